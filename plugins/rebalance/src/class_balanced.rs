//! Class-balanced loss (Cui et al., CVPR 2019): effective-number weights on softmax, sigmoid or
//! focal base losses.

use crate::common::{class_vector, effective_number_weights, nll};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Loss, Result, StepCtx};
use serde::Deserialize;

/// Which loss the class-balanced weights multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CbBase {
    /// Softmax cross-entropy.
    Softmax,
    /// Per-class sigmoid (binary) cross-entropy.
    Sigmoid,
    /// The paper's focal loss: sigmoid cross-entropy times `(1 - p^t_j)^gamma` per class.
    Focal,
}

/// Class-balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples",
/// CVPR 2019): `CB(z, y) = w_y * L(z, y)` with `w_c = (1 - beta) / (1 - beta^{n_c})` normalised to
/// sum to K, on softmax CE, sigmoid CE or the (sigmoid) focal loss. As in the authors' code the
/// batch loss is the sum over samples (and, for sigmoid/focal, over classes) divided by the batch
/// size. The authors also initialise the sigmoid/focal classifier bias to -log((1 - pi)/pi); the
/// built-in linear head does not.
pub struct ClassBalanced {
    weights: Tensor,
    base: CbBase,
    gamma: f64,
    num_classes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CbConfig {
    beta: f64,
    base: CbBase,
    gamma: f64,
}

impl Default for CbConfig {
    fn default() -> Self {
        // The authors' script defaults: beta 0.9999, gamma 1.0 for focal.
        CbConfig {
            beta: 0.9999,
            base: CbBase::Softmax,
            gamma: 1.0,
        }
    }
}

impl ClassBalanced {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<ClassBalanced> {
        let c: CbConfig = config.parse()?;
        check::at_least("gamma", c.gamma, 0.0)?;
        Ok(ClassBalanced {
            weights: class_vector(&effective_number_weights(&data.class_counts, c.beta)?, data)?,
            base: c.base,
            gamma: c.gamma,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for ClassBalanced {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        let kind = logits.kind();
        let w = self
            .weights
            .f_to_device(logits.device())?
            .f_to_kind(kind)?
            .f_index_select(0, targets)?;
        let per_sample = match self.base {
            CbBase::Softmax => nll(logits, targets)?,
            CbBase::Sigmoid | CbBase::Focal => {
                let y = logits
                    .f_zeros_like()?
                    .f_scatter_value(1, &targets.f_unsqueeze(1)?, 1.0)?;
                // Binary cross-entropy with logits: softplus(z) - y z.
                let mut bce = logits.f_softplus()?.f_sub(&y.f_mul(logits)?)?;
                if self.base == CbBase::Focal && self.gamma != 0.0 {
                    // (1 - p^t)^gamma = exp(-gamma (y z + softplus(-z))), smooth everywhere.
                    let e = y
                        .f_mul(logits)?
                        .f_add(&logits.f_neg()?.f_softplus()?)?
                        .f_mul_scalar(-self.gamma)?
                        .f_exp()?;
                    bce = bce.f_mul(&e)?;
                }
                bce.f_sum_dim_intlist([1i64].as_slice(), false, kind)?
            }
        };
        Ok(per_sample.f_mul(&w)?.f_mean(kind)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn cb_losses_match_the_formula() {
        let beta = 0.99;
        let w = effective_number_weights(&COUNTS, beta).unwrap();
        let d = data();
        // Softmax: mean_i w_{y_i} CE_i.
        let mut sm = ClassBalanced::new(&cfg(r#"{"beta": 0.99}"#), &d).unwrap();
        let want: f64 = Z
            .iter()
            .zip(Y)
            .map(|(r, t)| w[t] * ce_row(r, &[0.0; 3], t))
            .sum::<f64>()
            / 3.0;
        assert!((value(&mut sm) - want).abs() < 1e-12);
        check_gradient(&mut sm);
        // Sigmoid and focal: (1/B) sum_i w_{y_i} sum_j (1 - p^t_ij)^gamma * -log p^t_ij with
        // p^t = sigmoid(z) for the true class and 1 - sigmoid(z) for the others.
        for (base, gamma) in [("sigmoid", 0.0), ("focal", 2.0), ("focal", 0.5)] {
            let json = format!(r#"{{"beta": 0.99, "base": "{base}", "gamma": {gamma}}}"#);
            let mut l = ClassBalanced::new(&cfg(&json), &d).unwrap();
            let mut want = 0.0;
            for (r, t) in Z.iter().zip(Y) {
                for (j, &zj) in r.iter().enumerate() {
                    let p = if j == t {
                        sigmoid(zj)
                    } else {
                        1.0 - sigmoid(zj)
                    };
                    let m = if base == "focal" {
                        (1.0 - p).powf(gamma)
                    } else {
                        1.0
                    };
                    want += w[t] * m * -p.ln();
                }
            }
            want /= 3.0;
            assert!(
                (value(&mut l) - want).abs() < 1e-12,
                "{json}: {} vs {want}",
                value(&mut l)
            );
            check_gradient(&mut l);
        }
        // beta = 0 (no re-weighting) on softmax is cross-entropy.
        let mut ce = ClassBalanced::new(&cfg(r#"{"beta": 0}"#), &d).unwrap();
        assert!((value(&mut ce) - mean_ce(&[0.0; 3])).abs() < 1e-12);
        // Focal with gamma 0 is the sigmoid loss.
        let mut f0 = ClassBalanced::new(&cfg(r#"{"base": "focal", "gamma": 0}"#), &d).unwrap();
        let mut s0 = ClassBalanced::new(&cfg(r#"{"base": "sigmoid"}"#), &d).unwrap();
        assert!((value(&mut f0) - value(&mut s0)).abs() < 1e-12);
    }

    #[test]
    fn bad_configs_are_clear_errors() {
        let d = data();
        for (json, msg) in [
            (r#"{"base": "hinge"}"#, "unknown variant `hinge`"),
            (r#"{"beta": 1.0}"#, "beta must be in [0, 1)"),
            (r#"{"betta": 0.9}"#, "unknown field `betta`"),
        ] {
            let e = ClassBalanced::new(&cfg(json), &d).err().expect(json);
            assert!(e.to_string().contains(msg), "{json}: {e}");
        }
    }
}
