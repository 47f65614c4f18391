//! lt-train plugin `lade`: LADE (Hong et al., "Disentangling Label Distribution for Long-tailed
//! Visual Recognition", CVPR 2021).
//!
//! Components:
//! * loss `lade`: PC softmax cross-entropy (cross-entropy on `z + log p_s`, [`prior_ce`]) plus
//!   `alpha` times the LADE regulariser (a per-class Donsker-Varadhan lower bound with the ReMINE
//!   penalty, weighted by the training prior, towards the uniform target prior, [`regulariser`]).
//!
//! The recipe is the authors' CIFAR-100-LT setting (hyperconnect/LADE, `config/CIFAR100_LT/lade.yaml`
//! with the README's `--alpha 0.1 --remine_lambda 0.01`).

pub mod loss;
pub mod prior_ce;
pub mod regulariser;

use loss::LadeLoss;

lt_plugin::export_plugin! {
    plugin "lade", "LADE (Hong et al., CVPR 2021): PC softmax cross-entropy + label-distribution disentangling regulariser", recipe include_str!("../recipe.toml");
    loss "lade" = LadeLoss::new, "PC softmax CE + alpha * LADE regulariser; config: alpha 0.1, remine_lambda 0.1 (CIFAR recipe: 0.01)";
}
