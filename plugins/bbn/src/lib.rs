//! lt-train plugin `bbn`: BBN, the bilateral-branch network with cumulative learning (Zhou et
//! al., "BBN: Bilateral-Branch Network with Cumulative Learning for Long-Tailed Visual
//! Recognition", CVPR 2020).
//!
//! Components:
//! * model `bbn`: two branches (conventional on the uniform batch, re-balancing on the reversed
//!   sampler's batch) and one linear classifier over their concatenated features, mixed with
//!   weights 2 alpha and 2 (1 - alpha) in training and 1, 1 at evaluation;
//! * feature loss `bbn`: alpha CE(z, y_c) + (1 - alpha) CE(z, y_r) on the second batch's labels;
//! * alpha = 1 - (T / T_max)^2 (`alpha`), shared by both.
//!
//! The recipe is the authors' CIFAR-LT one (ResNet-32, 200 epochs, lr x0.01 at 120 and 160).

pub mod alpha;
#[cfg(test)]
mod gradcheck;
pub mod loss;
pub mod model;
#[cfg(test)]
mod test_support;

use loss::BbnLoss;
use model::BbnModel;

lt_plugin::export_plugin! {
    plugin "bbn", "BBN (Zhou et al., CVPR 2020): bilateral-branch network with cumulative learning", recipe include_str!("../recipe.toml");
    feature_loss "bbn" = BbnLoss::new, "alpha CE(z, y_c) + (1 - alpha) CE(z, y_r), alpha = 1 - (T/T_max)^2; needs the second sampler's labels; config: t_max (default: the stage's epochs)";
    model "bbn" = BbnModel::new, "2 branches (branch 0 uniform batch, branch 1 reversed batch), one FC over [2 alpha f_c; 2 (1 - alpha) f_r] (eval: [f_c; f_r]); tensors fc.weight, fc.bias; config: t_max";
}
