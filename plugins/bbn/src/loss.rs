//! The `bbn` feature loss: the classifier output is trained on both batches' labels, weighted by
//! the cumulative-learning alpha:
//!
//! `L = alpha CE(z, y_c) + (1 - alpha) CE(z, y_r)`,
//!
//! with `z` the `bbn` model's mixed training logits, `y_c` the labels of the first (uniform)
//! batch, `y_r` those of the second (reversed) sampler's batch and CE the batch-mean
//! cross-entropy. Alpha is the same function of the step as the model's
//! ([`crate::alpha::AlphaSchedule`]); give both components the same `t_max`, if any.

use crate::alpha::AlphaSchedule;
use lt_plugin::tch::Tensor;
use lt_plugin::{
    check, Config, DatasetInfo, Error, FeatureLoss, LossInput, Needs, Result, StepCtx,
};

/// Alpha-weighted cross-entropy on the labels of the two batches.
pub struct BbnLoss {
    schedule: AlphaSchedule,
    num_classes: usize,
}

impl BbnLoss {
    /// The `bbn` loss; config: `t_max` (see [`crate::alpha`]).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<BbnLoss> {
        let schedule = AlphaSchedule::from_config(config)?;
        if data.num_classes == 0 {
            return Err(Error::Data("the bbn loss needs at least one class".into()));
        }
        Ok(BbnLoss {
            schedule,
            num_classes: data.num_classes,
        })
    }
}

/// Batch-mean cross-entropy of `logits` [B, K] against `targets` [B].
fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let kind = logits.kind();
    Ok(logits
        .f_log_softmax(-1, kind)?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_mean(kind)?
        .f_neg()?)
}

impl FeatureLoss for BbnLoss {
    fn needs(&self) -> Needs {
        Needs {
            second_batch: true,
            ..Needs::default()
        }
    }

    fn forward(&mut self, input: &LossInput, ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(input.logits, input.targets, self.num_classes)?;
        let targets2 = input.targets2()?;
        check::logits_targets(input.logits, targets2, self.num_classes).map_err(|_| {
            Error::Input(format!(
                "bbn: second-batch targets must be [B] like the first, got {:?} for logits {:?}",
                targets2.size(),
                input.logits.size()
            ))
        })?;
        let a = self.schedule.at(ctx)?;
        let first = cross_entropy(input.logits, input.targets)?.f_mul_scalar(a)?;
        let second = cross_entropy(input.logits, targets2)?.f_mul_scalar(1.0 - a)?;
        Ok(first.f_add(&second)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{cfg, ctx, t2};

    fn loss() -> BbnLoss {
        BbnLoss::new(&cfg("{}"), &DatasetInfo::for_test(vec![9, 1])).unwrap()
    }

    #[test]
    fn needs_only_the_second_batch() {
        let n = loss().needs();
        assert!(n.second_batch);
        assert_eq!(
            n,
            Needs {
                second_batch: true,
                ..Needs::default()
            }
        );
    }

    #[test]
    fn loss_by_hand() {
        // z = [[2, 0], [0, 1]], y_c = [0, 1], y_r = [1, 1], epoch 5 of 10: alpha = 0.75.
        // CE row 0, label 0: ln(1 + e^-2) = 0.1269280110; label 1: ln(e^2 + 1) = 2.1269280110.
        // CE row 1, label 1: ln(1 + e^-1) = 0.3132616875.
        // CE(z, y_c) = (0.1269280110 + 0.3132616875) / 2 = 0.2200948493;
        // CE(z, y_r) = (2.1269280110 + 0.3132616875) / 2 = 1.2200948493;
        // L = 0.75 * 0.2200948493 + 0.25 * 1.2200948493 = 0.4700948493.
        // PyTorch: 0.75 * F.cross_entropy(z, yc) + 0.25 * F.cross_entropy(z, yr) = 0.4700948493.
        let z = t2(&[2.0, 0.0, 0.0, 1.0], 2);
        let (yc, yr) = (
            Tensor::from_slice(&[0i64, 1]),
            Tensor::from_slice(&[1i64, 1]),
        );
        let mut input = LossInput::new(&z, &yc);
        input.targets2 = Some(&yr);
        let mut l = loss();
        let got = l.forward(&input, &ctx(5, 10)).unwrap().double_value(&[]);
        assert!((got - 0.470_094_849_3).abs() < 1e-9, "{got}");
        // Epoch 0: alpha = 1, only the first batch's labels count.
        let got = l.forward(&input, &ctx(0, 10)).unwrap().double_value(&[]);
        assert!((got - 0.220_094_849_3).abs() < 1e-9, "{got}");
    }

    #[test]
    fn bad_inputs_and_configs_are_one_line_errors() {
        let mut l = loss();
        let z = t2(&[2.0, 0.0, 0.0, 1.0], 2);
        let y = Tensor::from_slice(&[0i64, 1]);
        let y3 = Tensor::from_slice(&[0i64, 1, 1]);
        let no2 = LossInput::new(&z, &y);
        let e = l.forward(&no2, &ctx(0, 10)).unwrap_err().to_string();
        assert_eq!(e, "no second-batch targets passed");
        let mut short = LossInput::new(&z, &y);
        short.targets2 = Some(&y3);
        let e = l.forward(&short, &ctx(0, 10)).unwrap_err().to_string();
        assert!(
            e.starts_with("bbn: second-batch targets must be [B]"),
            "{e}"
        );
        let wide = t2(&[1.0; 6], 2);
        let mut bad = LossInput::new(&wide, &y);
        bad.targets2 = Some(&y);
        let e = l.forward(&bad, &ctx(0, 10)).unwrap_err().to_string();
        assert_eq!(
            e,
            "expected logits [B,2] and targets [B], got [2, 3] and [2]"
        );
        let d = DatasetInfo::for_test(vec![9, 1]);
        let e = BbnLoss::new(&cfg(r#"{"t_max": 1.5}"#), &d).err().unwrap();
        assert_eq!(
            e.to_string(),
            "t_max must be a whole number of epochs >= 1, got 1.5"
        );
        assert!(BbnLoss::new(&cfg("{}"), &DatasetInfo::for_test(vec![])).is_err());
    }
}
