//! lt-train plugin `kcl`: k-positive contrastive learning (Kang, Li, Xie, Yuan, Feng, "Exploring
//! Balanced Feature Spaces for Representation Learning", ICLR 2021).
//!
//! Components:
//! * feature loss `kcl` (ABI version 2; needs the pooled features of two augmented views): a
//!   trainable projection head, L2-normalised embeddings, and for every one of the 2B views a
//!   contrastive loss whose positives are the anchor's other view plus k views of the same class
//!   drawn at random ([`positives`]), temperature 0.07 ([`loss`]).
//!
//! Stage 2 (classifier re-training on frozen features, class-balanced) uses the `decoupling`
//! plugin's `crt` head: `configs/kcl-crt.toml`.

pub mod config;
pub mod contrast;
pub mod loss;
pub mod positives;
pub mod projection;

use loss::KclLoss;

lt_plugin::export_plugin! {
    plugin "kcl", "KCL (Kang et al., ICLR 2021): k-positive contrastive representation learning", recipe include_str!("../recipe.toml");
    feature_loss "kcl" = KclLoss::new, "k-positive contrastive loss on two views; config: k 6, temperature 0.07, proj_dim 128, mlp true";
}
