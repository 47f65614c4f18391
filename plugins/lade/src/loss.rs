//! The `lade` loss component: `L = PC-softmax CE + alpha * LADE regulariser` (Hong et al., Eq. 13;
//! the official training sums `PriorCELoss` with weight 1 and `LADELoss` with weight `alpha`).
//!
//! Evaluation: the official code adds `log p_t(y)` of the evaluated split to the logits. On a
//! uniform test set that is the constant `-log K`, which changes neither the softmax nor the
//! argmax, so [`LadeLoss`] leaves the logits unchanged (`adjust_logits` returns `None`).

use crate::prior_ce::{guarded_log_prior, prior_ce};
use crate::regulariser::{lade_regulariser, prior, RegulariserConsts};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Loss, Result, StepCtx};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LadeConfig {
    /// Weight of the regulariser (official `--alpha`, default 0.1; CIFAR-100-LT 0.1).
    alpha: f64,
    /// ReMINE penalty (official `LADELoss` default 0.1; the CIFAR-100-LT command uses 0.01).
    remine_lambda: f64,
}

impl Default for LadeConfig {
    fn default() -> Self {
        LadeConfig {
            alpha: 0.1,
            remine_lambda: 0.1,
        }
    }
}

/// PC softmax cross-entropy plus `alpha` times the LADE regulariser.
pub struct LadeLoss {
    /// [K] `log(p_s + 1e-9)` (double; cast to the logits' kind per call).
    log_prior: Tensor,
    /// [K] `p_s` (double).
    prior: Tensor,
    alpha: f64,
    remine_lambda: f64,
    num_classes: usize,
}

impl LadeLoss {
    /// The `lade` component; `alpha` and `remine_lambda` must be >= 0.
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<LadeLoss> {
        let c: LadeConfig = config.parse()?;
        check::at_least("alpha", c.alpha, 0.0)?;
        check::at_least("remine_lambda", c.remine_lambda, 0.0)?;
        check::class_counts(data)?;
        let log_prior = Tensor::from_slice(&guarded_log_prior(&data.class_counts)?);
        Ok(LadeLoss {
            log_prior: log_prior.f_to_device(data.device)?,
            prior: prior(&data.class_counts)?.f_to_device(data.device)?,
            alpha: c.alpha,
            remine_lambda: c.remine_lambda,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for LadeLoss {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        let (kind, dev) = (logits.kind(), logits.device());
        let log_prior = self.log_prior.f_to_device(dev)?.f_to_kind(kind)?;
        let ce = prior_ce(logits, targets, &log_prior)?;
        if self.alpha == 0.0 {
            return Ok(ce);
        }
        let consts = RegulariserConsts {
            log_prior: &log_prior,
            prior: &self.prior.f_to_device(dev)?.f_to_kind(kind)?,
            remine_lambda: self.remine_lambda,
        };
        let reg = lade_regulariser(logits, targets, &consts)?;
        Ok(ce.f_add(&reg.f_mul_scalar(self.alpha)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::Kind;

    fn cfg(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    fn ctx() -> StepCtx {
        StepCtx {
            epoch: 0,
            total_epochs: 1,
            stage: 1,
            step: 0,
        }
    }

    fn t2(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    #[test]
    fn total_loss_by_hand() {
        // Counts [6, 3, 1]: p_s = [0.6, 0.3, 0.1]. z = [[1, 0, -1], [0.5, 1.5, 0]], y = [0, 1].
        // PC CE = 0.390560860508 (see prior_ce tests); regulariser with lambda 0.1 =
        // -0.471383019427 (see regulariser tests). alpha 0.1:
        // total = 0.390560860508 + 0.1 * (-0.471383019427) = 0.343422558566.
        // PyTorch: F.cross_entropy(z + p.log(), y) + 0.1 * LADELoss(remine_lambda=0.1)(z, y)
        let d = DatasetInfo::for_test(vec![6, 3, 1]);
        let mut l = LadeLoss::new(&cfg(r#"{"alpha": 0.1, "remine_lambda": 0.1}"#), &d).unwrap();
        let z = t2(&[1.0, 0.0, -1.0, 0.5, 1.5, 0.0], 2);
        let y = Tensor::from_slice(&[0i64, 1]);
        let got = l.forward(&z, &y, &ctx()).unwrap().double_value(&[]);
        assert!((got - 0.343_422_558_566).abs() < 1e-7, "{got}");
        // alpha = 0 is PC softmax alone.
        let mut pc = LadeLoss::new(&cfg(r#"{"alpha": 0}"#), &d).unwrap();
        let got = pc.forward(&z, &y, &ctx()).unwrap().double_value(&[]);
        assert!((got - 0.390_560_860_508).abs() < 1e-7, "{got}");
        // Float logits give the same value in float precision.
        let got = l
            .forward(&z.to_kind(Kind::Float), &y, &ctx())
            .unwrap()
            .double_value(&[]);
        assert!((got - 0.343_422_558_566).abs() < 1e-5, "{got}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let d = DatasetInfo::for_test(vec![40, 9, 3, 1]);
        let mut l = LadeLoss::new(&cfg(r#"{"alpha": 0.5, "remine_lambda": 0.3}"#), &d).unwrap();
        // Class 3 is absent from the batch, class 0 appears twice.
        let y = Tensor::from_slice(&[0i64, 2, 1, 0, 2]);
        let base: Vec<f64> = (0..20)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 4.0)
            .collect();
        let x = t2(&base, 5).set_requires_grad(true);
        l.forward(&x, &y, &ctx()).unwrap().backward();
        let g: Vec<f64> = Vec::try_from(x.grad().reshape([-1])).unwrap();
        let h = 1e-6;
        for i in 0..base.len() {
            let mut f = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                l.forward(&t2(&v, 5), &y, &ctx()).unwrap().double_value(&[])
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!((fd - g[i]).abs() < 1e-7, "[{i}]: {fd} vs {}", g[i]);
        }
    }

    #[test]
    fn evaluation_leaves_logits_alone_and_bad_input_is_an_error() {
        let d = DatasetInfo::for_test(vec![6, 3, 1]);
        let mut l = LadeLoss::new(&cfg("{}"), &d).unwrap();
        assert!(l.adjust_logits(&t2(&[0.1, 0.2, 0.3], 1)).unwrap().is_none());
        let e = l
            .forward(&t2(&[0.0; 4], 2), &Tensor::from_slice(&[0i64, 1]), &ctx())
            .unwrap_err();
        assert!(e.to_string().contains("expected logits [B,3]"), "{e}");
        for (json, msg) in [
            (r#"{"alpha": -0.1}"#, "alpha must be >= 0, got -0.1"),
            (
                r#"{"remine_lambda": -1}"#,
                "remine_lambda must be >= 0, got -1",
            ),
            (r#"{"lambda": 0.1}"#, "unknown field `lambda`"),
            (r#"{"alpha": "big"}"#, "invalid type"),
        ] {
            let e = LadeLoss::new(&cfg(json), &d).err().expect(json).to_string();
            assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
        }
        let e = LadeLoss::new(&cfg("{}"), &DatasetInfo::for_test(vec![5, 0]))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("class 1 has no training images"),
            "{e}"
        );
    }
}
