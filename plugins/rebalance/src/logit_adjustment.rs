//! Logit adjustment (Menon et al., ICLR 2021): the log prior times tau, added in the loss or
//! subtracted post hoc at evaluation.

use crate::common::{class_vector, log_prior, nll, row_like};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Error, Loss, Result, StepCtx};
use serde::Deserialize;

/// Logit adjustment (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021).
/// Loss version (default): `L = CE(z + tau log pi, y)`. Post-hoc version (`posthoc = true`):
/// train with plain cross-entropy, evaluate `z - tau log pi`. `tau = 0` is plain CE either way.
pub struct LogitAdjustment {
    log_prior: Tensor,
    tau: f64,
    posthoc: bool,
    num_classes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LaConfig {
    tau: f64,
    posthoc: bool,
}

impl Default for LaConfig {
    fn default() -> Self {
        LaConfig {
            tau: 1.0,
            posthoc: false,
        }
    }
}

impl LogitAdjustment {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<LogitAdjustment> {
        let c: LaConfig = config.parse()?;
        if !c.tau.is_finite() {
            return Err(Error::Config(format!(
                "tau must be a finite number, got {}",
                c.tau
            )));
        }
        Ok(LogitAdjustment {
            log_prior: class_vector(&log_prior(&data.class_counts)?, data)?,
            tau: c.tau,
            posthoc: c.posthoc,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for LogitAdjustment {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        let z = if self.posthoc || self.tau == 0.0 {
            logits.shallow_clone()
        } else {
            logits.f_add(&row_like(&self.log_prior, logits)?.f_mul_scalar(self.tau)?)?
        };
        Ok(nll(&z, targets)?.f_mean(logits.kind())?)
    }

    fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        if !self.posthoc || self.tau == 0.0 {
            return Ok(None);
        }
        check::logits(logits, self.num_classes)?;
        Ok(Some(logits.f_sub(
            &row_like(&self.log_prior, logits)?.f_mul_scalar(self.tau)?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use crate::BalancedSoftmax;
    use lt_plugin::tch::Kind;

    #[test]
    fn logit_adjusted_loss_matches_the_formula() {
        let mut l = LogitAdjustment::new(&cfg(r#"{"tau": 0.5}"#), &data()).unwrap();
        let shift: Vec<f64> = log_pi().iter().map(|v| 0.5 * v).collect();
        assert!((value(&mut l) - mean_ce(&shift)).abs() < 1e-12);
        assert!(l.adjust_logits(&logits()).unwrap().is_none());
        check_gradient(&mut l);
        // tau = 1 is balanced softmax.
        let mut one = LogitAdjustment::new(&cfg("{}"), &data()).unwrap();
        let mut bs = BalancedSoftmax::new(&cfg("{}"), &data()).unwrap();
        assert!((value(&mut one) - value(&mut bs)).abs() < 1e-12);
    }

    #[test]
    fn posthoc_adjustment_subtracts_tau_log_prior_at_eval_only() {
        let mut l =
            LogitAdjustment::new(&cfg(r#"{"tau": 1.5, "posthoc": true}"#), &data()).unwrap();
        // Training is plain cross-entropy.
        assert!((value(&mut l) - mean_ce(&[0.0; 3])).abs() < 1e-12);
        let adj = l.adjust_logits(&logits()).unwrap().unwrap();
        let got: Vec<f64> = Vec::try_from(adj.reshape([-1])).unwrap();
        let lp = log_pi();
        for (i, g) in got.iter().enumerate() {
            let want = Z[i / 3][i % 3] - 1.5 * lp[i % 3];
            assert!((g - want).abs() < 1e-12, "[{i}] {g} vs {want}");
        }
        // Rare classes gain: the adjustment can change the argmax towards the tail.
        let z = Tensor::from_slice(&[1.0f64, 0.0, -0.5]).reshape([1, 3]);
        assert_eq!(z.argmax(-1, false).int64_value(&[0]), 0);
        let a = l.adjust_logits(&z).unwrap().unwrap();
        assert_eq!(a.argmax(-1, false).int64_value(&[0]), 2);
    }

    #[test]
    fn logit_adjustment_with_tau_zero_is_the_identity() {
        for posthoc in [false, true] {
            let json = format!(r#"{{"tau": 0.0, "posthoc": {posthoc}}}"#);
            let mut l = LogitAdjustment::new(&cfg(&json), &data()).unwrap();
            assert!((value(&mut l) - mean_ce(&[0.0; 3])).abs() < 1e-12, "{json}");
            let adjusted = l.adjust_logits(&logits()).unwrap().unwrap_or_else(logits);
            assert_eq!(adjusted.kind(), Kind::Double);
            assert!(adjusted.equal(&logits()), "{json}");
        }
    }

    #[test]
    fn a_config_of_the_wrong_type_is_an_error() {
        let d = data();
        let e = LogitAdjustment::new(&cfg(r#"{"tau": "big"}"#), &d)
            .err()
            .unwrap();
        assert!(e.to_string().contains("config"), "{e}");
    }
}
