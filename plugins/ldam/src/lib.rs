//! lt-train plugin `ldam`: LDAM-DRW (Cao et al., "Learning Imbalanced Datasets with
//! Label-Distribution-Aware Margin Loss", NeurIPS 2019).
//!
//! Components:
//! * loss `ldam`: label-distribution-aware margins `m_c ∝ n_c^(-1/4)` (largest `max_m` = 0.5),
//!   scale `s` = 30, with deferred class-balanced re-weighting (DRW: effective number,
//!   beta 0.9999) from the fraction `drw_at` = 0.8 of the stage (epoch 160 of 200 in the paper);
//! * loss `ce-drw`: cross-entropy with the same DRW schedule (the paper's CE-DRW baseline);
//! * head `normed-linear`: the cosine classifier the authors pair with LDAM on CIFAR.
//!
//! The recipe reproduces the authors' CIFAR script (lr x0.01 at 160 and 180 of 200 epochs).

pub mod ldam;
pub mod normed;

use ldam::LdamLoss;
use normed::NormedLinear;

lt_plugin::export_plugin! {
    plugin "ldam", "LDAM-DRW (Cao et al., NeurIPS 2019): margin loss, deferred re-weighting, cosine head", recipe include_str!("../recipe.toml");
    loss "ldam" = LdamLoss::new, "LDAM loss + DRW; config: max_m 0.5, s 30, drw true, drw_at 0.8 (fraction of the stage), beta 0.9999, eval_scale true (eval logits x s)";
    loss "ce-drw" = LdamLoss::new_ce_drw, "cross-entropy + DRW; config: drw true, drw_at 0.8, beta 0.9999";
    head "normed-linear" = NormedLinear::new, "cosine classifier z = scale * cos(x, w_c), no bias; config: scale 1.0";
}
