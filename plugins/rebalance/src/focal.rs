//! Softmax focal loss (Lin et al., ICCV 2017).

use crate::common::{check_counts, nll};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Loss, Result, StepCtx};
use serde::Deserialize;

/// Softmax focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017), in its
/// multi-class form `FL = -(1 - p_y)^gamma log p_y`, averaged over the batch; gamma = 0 is CE.
pub struct Focal {
    gamma: f64,
    num_classes: usize,
}

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

/// Per-sample softmax focal term [B]. `1 - p_y` is floored at 1e-12 so that gamma < 1 keeps a
/// finite gradient when p_y rounds to 1.
fn softmax_focal(z: &Tensor, targets: &Tensor, gamma: f64) -> Result<Tensor> {
    let ce = nll(z, targets)?;
    if gamma == 0.0 {
        return Ok(ce);
    }
    let one_minus_p = ce
        .f_neg()?
        .f_exp()?
        .f_neg()?
        .f_add_scalar(1.0)?
        .f_clamp_min(1e-12)?;
    Ok(one_minus_p.f_pow_tensor_scalar(gamma)?.f_mul(&ce)?)
}

impl Focal {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Focal> {
        let c: FocalConfig = config.parse()?;
        check::at_least("gamma", c.gamma, 0.0)?;
        check_counts(&data.class_counts, "focal")?;
        Ok(Focal {
            gamma: c.gamma,
            num_classes: data.num_classes,
        })
    }
}

impl Loss for Focal {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        Ok(softmax_focal(logits, targets, self.gamma)?.f_mean(logits.kind())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn focal_matches_the_formula_and_gamma_zero_is_ce() {
        for gamma in [2.0, 0.5] {
            let json = format!(r#"{{"gamma": {gamma}}}"#);
            let mut l = Focal::new(&cfg(&json), &data()).unwrap();
            let want = Z
                .iter()
                .zip(Y)
                .map(|(r, t)| {
                    let ce = ce_row(r, &[0.0; 3], t);
                    let p = (-ce).exp();
                    (1.0 - p).powf(gamma) * ce
                })
                .sum::<f64>()
                / 3.0;
            assert!((value(&mut l) - want).abs() < 1e-12, "gamma {gamma}");
            check_gradient(&mut l);
        }
        let mut ce = Focal::new(&cfg(r#"{"gamma": 0}"#), &data()).unwrap();
        assert!((value(&mut ce) - mean_ce(&[0.0; 3])).abs() < 1e-12);
        let e = Focal::new(&cfg(r#"{"gamma": -1}"#), &data()).err().unwrap();
        assert!(e.to_string().contains("gamma must be >= 0"), "{e}");
    }
}
