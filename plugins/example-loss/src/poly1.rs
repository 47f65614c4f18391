//! The Poly-1 loss of Leng et al. (ICLR 2022, "PolyLoss: A Polynomial Expansion Perspective of
//! Classification Loss Functions"): cross-entropy plus `epsilon` times its first polynomial
//! term, `L = -log(p_t) + epsilon * (1 - p_t)`, averaged over the batch. A positive epsilon
//! keeps pushing confident samples; epsilon = 0 is plain cross-entropy.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, Config, DatasetInfo, Loss, Result, StepCtx};
use serde::Deserialize;

/// The component's configuration, read from the JSON the trainer passes.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Poly1Config {
    epsilon: f64,
}

impl Default for Poly1Config {
    fn default() -> Self {
        Poly1Config { epsilon: 1.0 }
    }
}

pub struct Poly1Loss {
    epsilon: f64,
    num_classes: usize,
}

impl Poly1Loss {
    /// Constructor registered in `export_plugin!`: validates the config once, up front.
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Poly1Loss> {
        let cfg: Poly1Config = config.parse()?;
        // Below -1 the loss would reward lowering p_t.
        check::at_least("epsilon", cfg.epsilon, -1.0)?;
        Ok(Poly1Loss {
            epsilon: cfg.epsilon,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for Poly1Loss {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        // A mistake in the shapes is a clear error, not a libtorch message.
        check::logits_targets(logits, targets, self.num_classes)?;
        // `f_` methods return Err instead of panicking.
        let log_pt = logits
            .f_log_softmax(-1, Kind::Float)?
            .f_gather(1, &targets.f_unsqueeze(1)?, false)?
            .f_squeeze_dim(1)?;
        let one_minus_pt = log_pt.f_exp()?.f_neg()?.f_add_scalar(1.0)?;
        let per_sample = log_pt
            .f_neg()?
            .f_add(&one_minus_pt.f_mul_scalar(self.epsilon)?)?;
        Ok(per_sample.f_mean(Kind::Float)?)
    }
}
