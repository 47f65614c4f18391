//! The `ride` feature loss (the official `RIDELoss`): for every expert e,
//!
//! `L_e = λ_base · LDAM-CE(z_e, y; w) + λ_div · mean(T)² · KL(softmax(z̄/T) || softmax(z_e/T))`
//!
//! summed over the experts, where z̄ is the aggregated (mean) logits, detached in the KL. The
//! DRW weights w and the per-class temperatures `T_c = T_0 v_c` switch on together at `drw_at`;
//! before that the batch mean is unweighted and T = T_0. As in the official code, when
//! `λ_div = 0` every expert's base loss is computed on z̄ instead of z_e.

use crate::diversity::{diversity_kl, Temperature};
use crate::ldam::{cross_entropy, margined};
use crate::stats::{diversity_factors, effective_number_weights};
use lt_plugin::prior::{drw_epoch, ldam_margins};
use lt_plugin::tch::Tensor;
use lt_plugin::{
    check, Config, DatasetInfo, Error, FeatureLoss, LossInput, Needs, Result, StepCtx,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RideLossConfig {
    max_m: f64,
    s: f64,
    drw: bool,
    drw_at: f64,
    beta: f64,
    base_diversity_temperature: f64,
    reweight_factor: f64,
    additional_diversity_factor: f64,
    base_loss_factor: f64,
}

impl Default for RideLossConfig {
    /// The official `RIDELoss` defaults and CIFAR config (reweight_epoch 160 of 200).
    fn default() -> Self {
        RideLossConfig {
            max_m: 0.5,
            s: 30.0,
            drw: true,
            drw_at: 0.8,
            beta: 0.9999,
            base_diversity_temperature: 1.0,
            reweight_factor: 0.05,
            additional_diversity_factor: -0.2,
            base_loss_factor: 1.0,
        }
    }
}

/// The RIDE loss over the experts' logits.
pub struct RideLoss {
    /// LDAM margins [K] (double).
    margins: Tensor,
    /// DRW class weights [K] (double).
    weights: Tensor,
    /// Per-class temperatures `T_0 v_c` [K] (double) and their mean.
    temps: Tensor,
    temps_mean: f64,
    c: RideLossConfig,
    active: bool,
    k: usize,
}

impl RideLoss {
    /// The `ride` feature-loss component.
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<RideLoss> {
        let c: RideLossConfig = config.parse()?;
        check::at_least("max_m", c.max_m, 0.0)?;
        check::positive("s", c.s)?;
        check::positive("base_diversity_temperature", c.base_diversity_temperature)?;
        if !(0.0..=1.0).contains(&c.drw_at) {
            return Err(Error::Config(format!(
                "drw_at is a fraction of the stage in [0, 1], got {}",
                c.drw_at
            )));
        }
        check::class_counts(data)?;
        let counts = &data.class_counts;
        let margins = ldam_margins(counts, c.max_m)?;
        let weights = effective_number_weights(counts, c.beta)?;
        let temps: Vec<f64> = diversity_factors(counts, c.reweight_factor)?
            .iter()
            .map(|v| v * c.base_diversity_temperature)
            .collect();
        let temps_mean = temps.iter().sum::<f64>() / temps.len() as f64;
        let dev = data.device;
        Ok(RideLoss {
            margins: Tensor::from_slice(&margins).to_device(dev),
            weights: Tensor::from_slice(&weights).to_device(dev),
            temps: Tensor::from_slice(&temps).to_device(dev),
            temps_mean,
            c,
            active: false,
            k: data.num_classes,
        })
    }

    /// Whether the DRW weights and per-class temperatures are on for the current epoch.
    pub fn reweighting(&self) -> bool {
        self.active
    }

    /// The temperature of the diversity term for the current epoch.
    fn temperature(&self) -> Temperature {
        if self.active {
            Temperature::PerClass {
                t: self.temps.shallow_clone(),
                mean: self.temps_mean,
            }
        } else {
            Temperature::Scalar(self.c.base_diversity_temperature)
        }
    }

    /// Aggregated logits, targets and every expert: [B,K], [B], and each expert [B,K] too.
    fn check_input(&self, input: &LossInput) -> Result<()> {
        check::logits_targets(input.logits, input.targets, self.k)?;
        if input.experts.is_empty() {
            return Err(Error::Input(
                "the ride loss needs the experts' logits (use it with the ride model)".into(),
            ));
        }
        for e in input.experts {
            if e.size() != input.logits.size() {
                return Err(Error::Input(format!(
                    "expert logits {:?} differ from the aggregated logits {:?}",
                    e.size(),
                    input.logits.size()
                )));
            }
        }
        Ok(())
    }
}

impl FeatureLoss for RideLoss {
    fn needs(&self) -> Needs {
        Needs {
            experts: true,
            ..Needs::default()
        }
    }

    fn forward(&mut self, input: &LossInput, _ctx: &StepCtx) -> Result<Tensor> {
        self.check_input(input)?;
        let (z_mean, y) = (input.logits, input.targets);
        let kind = z_mean.kind();
        let weights = self.active.then_some(&self.weights);
        let temp = self.temperature();
        let div = self.c.additional_diversity_factor * temp.mean() * temp.mean();
        let mut total = Tensor::f_zeros([], (kind, z_mean.device()))?;
        for z_e in input.experts {
            let base_in = if self.c.additional_diversity_factor == 0.0 {
                z_mean
            } else {
                z_e
            };
            let zm = margined(base_in, y, &self.margins, self.c.s)?;
            let base = cross_entropy(&zm, y, weights)?;
            total = total.f_add(&base.f_mul_scalar(self.c.base_loss_factor)?)?;
            if div != 0.0 {
                let kl = diversity_kl(z_e, z_mean, &temp)?;
                total = total.f_add(&kl.f_mul_scalar(div)?)?;
            }
        }
        Ok(total.f_to_kind(kind)?)
    }

    fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        self.active = self.c.drw && ctx.epoch >= drw_epoch(self.c.drw_at, ctx.total_epochs);
        Ok(())
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
