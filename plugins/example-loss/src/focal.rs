//! The focal loss of Lin et al. (ICCV 2017): FL(p_t) = -(1 - p_t)^gamma * log(p_t), averaged over
//! the batch. It down-weights well-classified (mostly head-class) examples; gamma = 0 is plain
//! cross-entropy.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{Config, DatasetInfo, Loss, PluginError, Result, StepCtx};
use serde::Deserialize;

/// The component's configuration, read from the JSON the trainer passes.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FocalConfig {
    gamma: f64,
}

impl Default for FocalConfig {
    fn default() -> Self {
        FocalConfig { gamma: 2.0 }
    }
}

pub struct FocalLoss {
    gamma: f64,
    num_classes: i64,
}

impl FocalLoss {
    /// Constructor registered in `export_plugin!`: validates the config once, up front.
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<FocalLoss> {
        let cfg: FocalConfig = config.parse()?;
        if !(cfg.gamma >= 0.0 && cfg.gamma.is_finite()) {
            return Err(PluginError(format!(
                "gamma must be >= 0, got {}",
                cfg.gamma
            )));
        }
        Ok(FocalLoss {
            gamma: cfg.gamma,
            num_classes: data.num_classes as i64,
        })
    }
}

impl Loss for FocalLoss {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        // Check shapes ourselves so a mistake is a clear error, not a libtorch message.
        let (b, k) = logits.size2()?;
        if k != self.num_classes || targets.size() != [b] {
            return Err(PluginError(format!(
                "expected logits [B,{}] and targets [B], got {:?} and {:?}",
                self.num_classes,
                logits.size(),
                targets.size()
            )));
        }
        // `f_` methods return Err instead of panicking.
        let log_p = logits.f_log_softmax(-1, Kind::Float)?;
        let log_pt = log_p
            .f_gather(1, &targets.f_unsqueeze(1)?, false)?
            .f_squeeze_dim(1)?;
        let pt = log_pt.f_exp()?;
        let weight = pt
            .f_neg()?
            .f_add_scalar(1.0)?
            .f_pow_tensor_scalar(self.gamma)?;
        Ok((weight * log_pt).f_mean(Kind::Float)?.f_neg()?)
    }
}
