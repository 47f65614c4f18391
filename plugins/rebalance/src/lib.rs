//! lt-train plugin `rebalance`: loss-level re-balancing for long-tailed recognition.
//!
//! Losses (hyper-parameters and defaults):
//! * `balanced-softmax` (Ren et al., NeurIPS 2020): `CE(z + log pi)` during training; none.
//! * `logit-adjustment` (Menon et al., ICLR 2021): loss `CE(z + tau log pi)`, or with
//!   `posthoc = true` plain CE in training and `z - tau log pi` at evaluation; tau 1.0.
//! * `focal` (Lin et al., ICCV 2017): softmax focal `-(1 - p_y)^gamma log p_y`; gamma 2.0.
//! * `cb` (Cui et al., CVPR 2019): class-balanced weights `(1 - beta) / (1 - beta^{n_y})`
//!   (normalised to sum to K) on `base` = softmax | sigmoid | focal; beta 0.9999, base softmax,
//!   gamma 1.0 (focal only).
//!
//! `pi` is the training label prior n_c / N. The recipe trains balanced softmax in one stage.
//! One file per loss; `common` holds what they share.

pub mod balanced_softmax;
pub mod class_balanced;
pub mod common;
pub mod focal;
pub mod logit_adjustment;
#[cfg(test)]
mod test_support;

pub use balanced_softmax::BalancedSoftmax;
pub use class_balanced::{CbBase, ClassBalanced};
pub use focal::Focal;
pub use logit_adjustment::LogitAdjustment;

lt_plugin::export_plugin! {
    plugin "rebalance", "Re-balancing losses: balanced softmax, logit adjustment, focal, class-balanced", recipe include_str!("../recipe.toml");
    loss "balanced-softmax" = BalancedSoftmax::new, "balanced softmax (Ren et al. 2020): CE(z + log prior); no config";
    loss "logit-adjustment" = LogitAdjustment::new, "logit adjustment (Menon et al. 2021): CE(z + tau log prior), or posthoc = true: CE, eval z - tau log prior; config: tau 1.0, posthoc false";
    loss "focal" = Focal::new, "softmax focal loss (Lin et al. 2017) -(1-p_y)^gamma log p_y; config: gamma 2.0";
    loss "cb" = ClassBalanced::new, "class-balanced loss (Cui et al. 2019), weights (1-beta)/(1-beta^n_y) summing to K; config: beta 0.9999, base softmax|sigmoid|focal, gamma 1.0";
}
