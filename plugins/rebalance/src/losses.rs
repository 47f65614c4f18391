//! The re-balancing losses. Each keeps the autograd graph back to the logits and computes in the
//! logits' own kind (float in training, double in the tests).

use crate::common::{
    check_counts, class_vector, effective_number_weights, log_prior, nll, row_like,
};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Error, Loss, Result, StepCtx};
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

fn check_gamma(gamma: f64) -> Result<()> {
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(Error::Config(format!("gamma must be >= 0, got {gamma}")));
    }
    Ok(())
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
        check_gamma(c.gamma)?;
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
        check_gamma(c.gamma)?;
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
    use lt_plugin::tch::{Device, Kind};

    fn cfg(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    const Z: [[f64; 3]; 3] = [[0.3, -1.2, 2.1], [1.5, 0.4, -0.6], [-0.1, 0.2, 0.9]];
    const Y: [usize; 3] = [0, 1, 2];
    const COUNTS: [u64; 3] = [60, 12, 3];

    fn logits() -> Tensor {
        Tensor::from_slice(&Z.concat()).reshape([3, 3])
    }
    fn targets() -> Tensor {
        Tensor::from_slice(&[0i64, 1, 2])
    }
    fn value(l: &mut dyn Loss) -> f64 {
        l.forward(&logits(), &targets(), &StepCtx::default())
            .unwrap()
            .double_value(&[])
    }

    /// `-log softmax(row + shift)_t` in plain f64.
    fn ce_row(row: &[f64; 3], shift: &[f64], t: usize) -> f64 {
        let a: Vec<f64> = (0..3).map(|j| row[j] + shift[j]).collect();
        a.iter().map(|v| v.exp()).sum::<f64>().ln() - a[t]
    }
    fn mean_ce(shift: &[f64]) -> f64 {
        Z.iter()
            .zip(Y)
            .map(|(r, t)| ce_row(r, shift, t))
            .sum::<f64>()
            / 3.0
    }
    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// Central differences of the loss against its autograd gradient, in double precision.
    fn check_gradient(l: &mut dyn Loss) {
        let base: Vec<f64> = Z.concat();
        let x = Tensor::from_slice(&base)
            .reshape([3, 3])
            .set_requires_grad(true);
        l.forward(&x, &targets(), &StepCtx::default())
            .unwrap()
            .backward();
        let g: Vec<f64> = Vec::try_from(x.grad().reshape([-1])).unwrap();
        let h = 1e-6;
        for i in 0..base.len() {
            let mut f = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                l.forward(
                    &Tensor::from_slice(&v).reshape([3, 3]),
                    &targets(),
                    &StepCtx::default(),
                )
                .unwrap()
                .double_value(&[])
            };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() < 1e-7,
                "[{i}]: finite diff {fd} vs autograd {}",
                g[i]
            );
        }
    }

    fn log_pi() -> Vec<f64> {
        let n: f64 = COUNTS.iter().map(|&c| c as f64).sum();
        COUNTS.iter().map(|&c| (c as f64 / n).ln()).collect()
    }

    #[test]
    fn balanced_softmax_matches_the_formula() {
        let mut l =
            BalancedSoftmax::new(&cfg("{}"), &DatasetInfo::for_test(COUNTS.to_vec())).unwrap();
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
        assert!(BalancedSoftmax::new(
            &cfg(r#"{"tau": 1}"#),
            &DatasetInfo::for_test(COUNTS.to_vec())
        )
        .is_err());
    }

    #[test]
    fn balanced_softmax_with_a_uniform_prior_is_cross_entropy() {
        let mut l =
            BalancedSoftmax::new(&cfg("{}"), &DatasetInfo::for_test(vec![7, 7, 7])).unwrap();
        assert!((value(&mut l) - mean_ce(&[0.0; 3])).abs() < 1e-12);
    }

    #[test]
    fn logit_adjusted_loss_matches_the_formula() {
        let mut l = LogitAdjustment::new(
            &cfg(r#"{"tau": 0.5}"#),
            &DatasetInfo::for_test(COUNTS.to_vec()),
        )
        .unwrap();
        let shift: Vec<f64> = log_pi().iter().map(|v| 0.5 * v).collect();
        assert!((value(&mut l) - mean_ce(&shift)).abs() < 1e-12);
        assert!(l.adjust_logits(&logits()).unwrap().is_none());
        check_gradient(&mut l);
        // tau = 1 is balanced softmax.
        let mut one =
            LogitAdjustment::new(&cfg("{}"), &DatasetInfo::for_test(COUNTS.to_vec())).unwrap();
        let mut bs =
            BalancedSoftmax::new(&cfg("{}"), &DatasetInfo::for_test(COUNTS.to_vec())).unwrap();
        assert!((value(&mut one) - value(&mut bs)).abs() < 1e-12);
    }

    #[test]
    fn posthoc_adjustment_subtracts_tau_log_prior_at_eval_only() {
        let mut l = LogitAdjustment::new(
            &cfg(r#"{"tau": 1.5, "posthoc": true}"#),
            &DatasetInfo::for_test(COUNTS.to_vec()),
        )
        .unwrap();
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
            let mut l =
                LogitAdjustment::new(&cfg(&json), &DatasetInfo::for_test(COUNTS.to_vec())).unwrap();
            assert!((value(&mut l) - mean_ce(&[0.0; 3])).abs() < 1e-12, "{json}");
            let adjusted = l.adjust_logits(&logits()).unwrap().unwrap_or_else(logits);
            assert_eq!(adjusted.kind(), Kind::Double);
            assert!(adjusted.equal(&logits()), "{json}");
        }
    }

    #[test]
    fn focal_matches_the_formula_and_gamma_zero_is_ce() {
        for gamma in [2.0, 0.5] {
            let json = format!(r#"{{"gamma": {gamma}}}"#);
            let mut l = Focal::new(&cfg(&json), &DatasetInfo::for_test(COUNTS.to_vec())).unwrap();
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
        let mut ce = Focal::new(
            &cfg(r#"{"gamma": 0}"#),
            &DatasetInfo::for_test(COUNTS.to_vec()),
        )
        .unwrap();
        assert!((value(&mut ce) - mean_ce(&[0.0; 3])).abs() < 1e-12);
        let e = Focal::new(
            &cfg(r#"{"gamma": -1}"#),
            &DatasetInfo::for_test(COUNTS.to_vec()),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("gamma must be >= 0"), "{e}");
    }

    #[test]
    fn cb_weights_sum_to_k_and_match_the_formula() {
        let beta: f64 = 0.99;
        let w = effective_number_weights(&COUNTS, beta).unwrap();
        // By hand: E_n = (1 - beta^n) / (1 - beta); w ∝ 1 / E_n; sum w = K.
        let inv: Vec<f64> = COUNTS
            .iter()
            .map(|&n| (1.0 - beta) / (1.0 - beta.powi(n as i32)))
            .collect();
        let s: f64 = inv.iter().sum();
        for i in 0..3 {
            assert!((w[i] - 3.0 * inv[i] / s).abs() < 1e-12);
        }
        assert!((w.iter().sum::<f64>() - 3.0).abs() < 1e-12);
        assert!(
            w[0] < w[1] && w[1] < w[2],
            "rarer classes weigh more: {w:?}"
        );
        assert!(effective_number_weights(&COUNTS, 0.0)
            .unwrap()
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-12));
        let e = effective_number_weights(&[4, 0], 0.9).unwrap_err();
        assert!(
            e.to_string().contains("class 1 has no training images"),
            "{e}"
        );
    }

    #[test]
    fn cb_losses_match_the_formula() {
        let beta = 0.99;
        let w = effective_number_weights(&COUNTS, beta).unwrap();
        let d = DatasetInfo::for_test(COUNTS.to_vec());
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
    fn bad_configs_and_shapes_are_clear_errors() {
        let d = DatasetInfo::for_test(COUNTS.to_vec());
        for (json, msg) in [
            (r#"{"base": "hinge"}"#, "unknown variant `hinge`"),
            (r#"{"beta": 1.0}"#, "beta must be in [0, 1)"),
            (r#"{"betta": 0.9}"#, "unknown field `betta`"),
        ] {
            let e = ClassBalanced::new(&cfg(json), &d).err().expect(json);
            assert!(e.to_string().contains(msg), "{json}: {e}");
        }
        let e = LogitAdjustment::new(&cfg(r#"{"tau": "big"}"#), &d)
            .err()
            .unwrap();
        assert!(e.to_string().contains("config"), "{e}");
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
