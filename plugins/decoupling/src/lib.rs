//! Decoupling representation and classifier (Kang et al., "Decoupling Representation and
//! Classifier for Long-Tailed Recognition", ICLR 2020) as an lt-train plugin. Stage 1 learns the
//! representation with plain instance-balanced cross-entropy; stage 2 re-balances only the
//! classifier on frozen features, with one of the heads:
//!
//! * `crt`: classifier re-training (re-initialised linear head, class-balanced sampler);
//! * `lws`: learnable weight scaling of the frozen stage-1 classifier;
//! * `tau-norm`: tau-normalised stage-1 weights, no training (stage-2 epochs = 0);
//! * `ncm`: nearest class mean on the training features (epochs = 0);
//! * `cosine`: cosine classifier.
//!
//! The plugin's recipe is cRT; configs/decoupling/*.toml select the others. See README.md.
//! One file per head, after the reference code (facebookresearch/classifier-balancing);
//! `common` holds what they share.

pub mod common;
pub mod cosine;
pub mod crt;
pub mod lws;
pub mod ncm;
pub mod tau_norm;
#[cfg(test)]
mod test_support;

pub use cosine::Cosine;
pub use crt::Crt;
pub use ncm::Ncm;
pub use tau_norm::TauNorm;

lt_plugin::export_plugin! {
    plugin "decoupling", "Decoupling (Kang et al., ICLR 2020): cRT (recipe), LWS, tau-norm, NCM, cosine classifier", recipe include_str!("../recipe.toml");
    head "crt" = Crt::new, "re-initialised linear classifier trained in stage 2 (classifier re-training)";
    head "lws" = lws::new, "frozen stage-1 classifier times learnable per-class scales (init 1)";
    head "tau-norm" = TauNorm::new, "stage-1 weights w_i / ||w_i||^tau, no bias unless bias = true; config: tau (1.0), bias (false); use with epochs = 0";
    head "ncm" = Ncm::new, "nearest class mean; config: feat_type (cl2n|l2n|un), dist (l2|cos); use with epochs = 0";
    head "cosine" = Cosine::new, "cosine classifier s * cos(x, w_i); config: scale (16), squash (true), learn_scale (false)";
}
