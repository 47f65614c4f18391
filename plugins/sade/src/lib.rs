//! lt-train plugin `sade`: SADE, self-supervised aggregation of diverse experts (Zhang, Hooi,
//! Hong, Feng, "Self-Supervised Aggregation of Diverse Experts for Test-Agnostic Long-Tailed
//! Recognition", NeurIPS 2022).
//!
//! Components:
//! * model `sade`: three experts (a copy of the backbone's last stage each, cosine classifiers
//!   times 30), mean of their logits in training, softmax(w)-weighted sum in evaluation, `w`
//!   tuned on the unlabelled test images by prediction-stability maximisation;
//! * feature loss `sade`: softmax CE (expert 1) + balanced softmax (expert 2) + inverse softmax
//!   with tau = 2 (expert 3).

pub mod aggregate;
pub mod classifier;
pub mod config;
pub mod loss;
pub mod model;
pub mod prior;
pub mod sgd;

use loss::DiverseExpertLoss;
use model::SadeModel;

lt_plugin::export_plugin! {
    plugin "sade", "SADE (Zhang et al., NeurIPS 2022): skill-diverse experts, test-time self-supervised aggregation", recipe include_str!("../recipe.toml");
    feature_loss "sade" = DiverseExpertLoss::new, "sum of the experts' losses: CE, balanced softmax, inverse softmax; config: tau 2";
    model "sade" = SadeModel::new, "3 experts, cosine classifiers x30, test-time aggregation; config: use_norm true, scale 30, test_time_epochs 5, test_time_lr 0.1, test_time_momentum 0.9, test_time_weight_decay 5e-4, test_time_nesterov true, stop_below 0.05";
}
