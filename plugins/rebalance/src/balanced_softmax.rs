//! Balanced softmax (Ren et al., NeurIPS 2020): cross-entropy on logits shifted by the log prior.

use crate::common::{class_vector, log_prior, nll, row_like};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Loss, Result, StepCtx};
use serde::Deserialize;

/// Balanced softmax (Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition",
/// NeurIPS 2020): the softmax is re-weighted by the training prior during training,
/// `L = -log( n_y e^{z_y} / sum_j n_j e^{z_j} ) = CE(z + log pi, y)`, so that the plain logits
/// estimate the balanced (test) posterior. No change at evaluation. No hyper-parameters.
pub struct BalancedSoftmax {
    log_prior: Tensor,
    num_classes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoConfig {}

impl BalancedSoftmax {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<BalancedSoftmax> {
        let _: NoConfig = config.parse()?;
        Ok(BalancedSoftmax {
            log_prior: class_vector(&log_prior(&data.class_counts)?, data)?,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for BalancedSoftmax {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        let z = logits.f_add(&row_like(&self.log_prior, logits)?)?;
        Ok(nll(&z, targets)?.f_mean(logits.kind())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use lt_plugin::tch::{Device, Kind};

    #[test]
    fn balanced_softmax_matches_the_formula() {
        let mut l = BalancedSoftmax::new(&cfg("{}"), &data()).unwrap();
        // By hand: -log(n_y e^{z_y} / sum_j n_j e^{z_j}), which is CE(z + log pi).
        let want = Z
            .iter()
            .zip(Y)
            .map(|(r, t)| {
                let s: f64 = (0..3).map(|j| COUNTS[j] as f64 * r[j].exp()).sum();
                -(COUNTS[t] as f64 * r[t].exp() / s).ln()
            })
            .sum::<f64>()
            / 3.0;
        assert!(
            (value(&mut l) - want).abs() < 1e-12,
            "{} vs {want}",
            value(&mut l)
        );
        assert!((want - mean_ce(&log_pi())).abs() < 1e-12);
        assert!(l.adjust_logits(&logits()).unwrap().is_none());
        check_gradient(&mut l);
        assert!(BalancedSoftmax::new(&cfg(r#"{"tau": 1}"#), &data()).is_err());
    }

    #[test]
    fn balanced_softmax_with_a_uniform_prior_is_cross_entropy() {
        let mut l =
            BalancedSoftmax::new(&cfg("{}"), &DatasetInfo::for_test(vec![7, 7, 7])).unwrap();
        assert!((value(&mut l) - mean_ce(&[0.0; 3])).abs() < 1e-12);
    }

    #[test]
    fn an_empty_class_and_a_wrong_width_are_clear_errors() {
        let d = data();
        let e = BalancedSoftmax::new(&cfg("{}"), &DatasetInfo::for_test(vec![3, 0, 1]))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("class 1 has no training images"),
            "{e}"
        );
        let mut l = BalancedSoftmax::new(&cfg("{}"), &d).unwrap();
        let e = l
            .forward(
                &Tensor::zeros([2, 4], (Kind::Float, Device::Cpu)),
                &targets(),
                &StepCtx::default(),
            )
            .err()
            .unwrap();
        assert!(e.to_string().contains("expected logits [B,3]"), "{e}");
    }
}
