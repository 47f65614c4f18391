//! SADE's skill-diverse expert loss (`feature_loss "sade"`): three experts, one loss each, each
//! trained for another test class distribution, all on the same long-tailed batch.
//!
//! With `pi` the training label prior and `pi~` its reversal ([`crate::prior`]):
//!
//! * expert 1, the long-tailed (forward) expert: softmax cross-entropy on its logits `z1`;
//! * expert 2, the uniform expert: balanced softmax, cross-entropy on `z2 + log pi`;
//! * expert 3, the inversely long-tailed (backward) expert: inverse softmax, cross-entropy on
//!   `z3 + log pi - tau log pi~` (tau = 2);
//!
//! and the loss is the sum of the three batch means. The logits are the experts' own (already
//! times the classifier scale s = 30); no further temperature is applied.

use crate::config::only_keys;
use crate::prior;
use lt_plugin::tch::Tensor;
use lt_plugin::{
    check, Config, DatasetInfo, Error, FeatureLoss, LossInput, Needs, Result, StepCtx,
};

/// The number of experts the method trains (fixed by SADE).
pub const EXPERTS: usize = 3;

/// The diverse-expert loss; holds the per-class logit offsets of experts 2 and 3.
pub struct DiverseExpertLoss {
    /// `log pi` [K] (double; cast to the logits' kind and device per call).
    balanced: Tensor,
    /// `log pi - tau log pi~` [K] (double).
    inverse: Tensor,
    num_classes: usize,
}

impl DiverseExpertLoss {
    /// The `sade` feature loss; config: `tau` (>= 0, default 2).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<DiverseExpertLoss> {
        only_keys(config, &["tau"], "sade loss")?;
        let tau = config.f64_or("tau", 2.0)?;
        check::at_least("tau", tau, 0.0)?;
        check::class_counts(data)?;
        let pi = prior::label_prior(&data.class_counts)?;
        let rev = prior::reversed(&pi);
        let log_pi: Vec<f64> = pi.iter().map(|p| p.ln()).collect();
        let inverse: Vec<f64> = log_pi
            .iter()
            .zip(&rev)
            .map(|(l, r)| l - tau * r.ln())
            .collect();
        Ok(DiverseExpertLoss {
            balanced: Tensor::from_slice(&log_pi).to_device(data.device),
            inverse: Tensor::from_slice(&inverse).to_device(data.device),
            num_classes: data.num_classes,
        })
    }

    /// The three expert losses (batch means), in expert order.
    pub fn expert_losses(&self, experts: &[Tensor], targets: &Tensor) -> Result<Vec<Tensor>> {
        if experts.len() != EXPERTS {
            return Err(Error::Input(format!(
                "the sade loss needs {EXPERTS} experts' logits, got {} (use model_plugin = \"sade\")",
                experts.len()
            )));
        }
        for z in experts {
            check::logits_targets(z, targets, self.num_classes)?;
        }
        let plain = cross_entropy(&experts[0], targets, None)?;
        let balanced = cross_entropy(&experts[1], targets, Some(&self.balanced))?;
        let inverse = cross_entropy(&experts[2], targets, Some(&self.inverse))?;
        Ok(vec![plain, balanced, inverse])
    }
}

/// Batch mean of `-log softmax(z + offset)_y`, the offset [K] added to every row.
fn cross_entropy(z: &Tensor, targets: &Tensor, offset: Option<&Tensor>) -> Result<Tensor> {
    let kind = z.kind();
    let shifted = match offset {
        Some(o) => z.f_add(&o.f_to_device(z.device())?.f_to_kind(kind)?)?,
        None => z.shallow_clone(),
    };
    Ok(shifted
        .f_log_softmax(-1, kind)?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_neg()?
        .f_mean(kind)?)
}

impl FeatureLoss for DiverseExpertLoss {
    fn needs(&self) -> Needs {
        Needs {
            experts: true,
            ..Needs::default()
        }
    }

    fn forward(&mut self, input: &LossInput, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(input.logits, input.targets, self.num_classes)?;
        let losses = self.expert_losses(input.experts, input.targets)?;
        let kind = losses[0].kind();
        Ok(Tensor::f_stack(&losses, 0)?.f_sum(kind)?)
    }
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
