//! One training stage's settings (`[stage1]`, `[stage2]`) and the checks the types cannot make.

use crate::schedule::ScheduleKind;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One training stage (stage 1: representation; stage 2: classifier re-balancing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Linear per-epoch warm-up epochs.
    pub warmup_epochs: usize,
    /// "step", "cosine" (per iteration), "cosine-epoch" (set once per epoch, as MiSLAS and
    /// classifier-balancing do) or "constant".
    pub schedule: ScheduleKind,
    /// Step decay points as fractions of the stage (CIFAR-LT: 160/200 and 180/200).
    pub milestones: Vec<f64>,
    /// Factor applied at each milestone, cumulatively.
    pub gamma: f64,
    /// Sampler name: built-in (instance, class-balanced, sqrt, progressive, reversed) or a
    /// plugin's.
    pub sampler: String,
    /// Configuration handed to a plugin sampler.
    pub sampler_config: toml::Table,
    /// A second sampler drawing a second batch each step (BBN's reversed sampler): its batch
    /// feeds branch 1 of a two-branch model plugin; `""`: none.
    #[serde(default)]
    pub sampler2: String,
    #[serde(default)]
    pub sampler2_config: toml::Table,
    /// Steps per epoch; 0: ceil(training images / batch size).
    pub steps_per_epoch: usize,
    /// Loss: "ce" (built in), a plugin loss component, or "none": only the model plugin's own
    /// loss term trains (RIDE's router stage).
    pub loss: String,
    /// Configuration handed to the loss component.
    pub loss_config: toml::Table,
    /// Head: "linear" (built in) or a plugin head component.
    pub head: String,
    pub head_config: toml::Table,
    /// Mixup Beta(alpha, alpha); 0 disables it.
    pub mixup_alpha: f64,
    /// Learning-rate factor of the backbone and of the head parameters.
    pub backbone_lr_factor: f64,
    pub head_lr_factor: f64,
    /// Per-parameter factors by head parameter name (e.g. LWS scales), overriding head_lr_factor.
    pub param_lr_factors: toml::Table,
    /// Freeze the backbone (decoupled stage 2).
    pub freeze_backbone: bool,
    /// With a frozen backbone: update BN running statistics on this stage's data (MiSLAS
    /// shifted BN), affine parameters staying frozen.
    pub shift_bn: bool,
}

impl StageConfig {
    /// The learning-rate factor `param_lr_factors` gives the head parameter `param`, if any;
    /// a value that is not a number is an error (never ignored; `validate` rejects it first).
    pub fn param_lr_factor(&self, param: &str) -> Result<Option<f64>> {
        self.param_lr_factors
            .get(param)
            .map(|v| lr_factor(v).ok_or_else(|| not_a_number("param_lr_factors", param, v)))
            .transpose()
    }

    pub(super) fn validate(&self, name: &str) -> Result<()> {
        for (param, v) in &self.param_lr_factors {
            if lr_factor(v).is_none() {
                return Err(not_a_number(&format!("{name}.param_lr_factors"), param, v));
            }
        }
        if self.batch_size < 2 {
            return Err(Error::Config(format!(
                "{name}.batch_size: must be at least 2 (batch norm cannot train on one image), got {}",
                self.batch_size
            )));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(Error::Config(format!(
                "{name}.lr must be a non-negative number"
            )));
        }
        if self.milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            return Err(Error::Config(format!(
                "{name}.milestones are fractions of the stage, in [0, 1]"
            )));
        }
        if self.shift_bn && !self.freeze_backbone {
            return Err(Error::Config(format!(
                "{name}.shift_bn needs freeze_backbone = true"
            )));
        }
        Ok(())
    }
}

/// A learning-rate factor given as a float or an integer.
fn lr_factor(v: &toml::Value) -> Option<f64> {
    v.as_float().or(v.as_integer().map(|i| i as f64))
}

fn not_a_number(table: &str, param: &str, v: &toml::Value) -> Error {
    Error::Config(format!(
        "{table}.{param}: expected a number, got {} {v}",
        v.type_str()
    ))
}
