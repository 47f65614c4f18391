//! lt-train plugin `ride`: RIDE, routing diverse distribution-aware experts (Wang et al.,
//! "Long-tailed Recognition by Routing Diverse Distribution-Aware Experts", ICLR 2021).
//!
//! Components:
//! * model `ride`: per-expert cosine classifiers (scale s = 30) on the host's branches, mean of
//!   the experts' logits in training and evaluation;
//! * feature loss `ride`: per expert LDAM-DRW cross-entropy plus the distribution-aware
//!   diversity term (the official `RIDELoss`).
//!
//! With `router = true` the model also carries the expert assignment module (router), trained
//! in stage 2 with the experts frozen; see README.md.

pub mod diversity;
pub mod ldam;
pub mod loss;
pub mod model;
pub mod router;
pub mod stats;

use loss::RideLoss;
use model::RideModel;

lt_plugin::export_plugin! {
    plugin "ride", "RIDE (Wang et al., ICLR 2021): diverse distribution-aware experts with the RIDE loss", recipe include_str!("../recipe.toml");
    feature_loss "ride" = RideLoss::new, "RIDE loss: per-expert LDAM-DRW + diversity KL; config: max_m 0.5, s 30, drw true, drw_at 0.8, beta 0.9999, base_diversity_temperature 1.0, reweight_factor 0.05, additional_diversity_factor -0.2, base_loss_factor 1.0";
    model "ride" = RideModel::new, "RIDE experts: cosine classifier per branch, mean aggregation or the router; config: experts 3, s 30, router false, top_choices 5, pos_weight 20";
}
