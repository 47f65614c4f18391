//! The LDAM loss with the DRW schedule (Cao et al., "Learning Imbalanced Datasets with
//! Label-Distribution-Aware Margin Loss", NeurIPS 2019).
//!
//! LDAM enforces a larger margin on rare classes: the true-class logit is lowered by
//! `m_y = C / n_y^(1/4)` (C chosen so that the largest margin is `max_m`), and the margined logits
//! are scaled by `s` before the softmax cross-entropy:
//!
//! `L = -log( e^{s(z_y - m_y)} / (e^{s(z_y - m_y)} + sum_{j != y} e^{s z_j}) )`.
//!
//! DRW (deferred re-weighting) trains unweighted first and switches on class-balanced weights
//! `w_c = (1 - beta) / (1 - beta^{n_c})` (Cui et al. 2019's inverse effective number), normalised to
//! sum to K, late in training. The authors switch at epoch 160 of 200; here the switch point is the
//! fraction `drw_at` (default 0.8) of the stage so that short runs keep the same shape. As in the
//! authors' code (PyTorch `cross_entropy(weight=...)`), the weighted batch loss is
//! `sum_i w_{y_i} l_i / sum_i w_{y_i}`.
//!
//! At evaluation the logits are multiplied by `s` (`eval_scale`, default on): with the cosine
//! (`normed-linear`) head the raw logits lie in [-1, 1], and `softmax(s z)` is the probability the
//! loss trains, so calibration metrics (ECE, NLL) are measured on the model's own scale. The
//! argmax, hence accuracy, is unchanged.

use lt_plugin::prior::{drw_epoch, ldam_margins};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Error, Loss, Result, StepCtx};
use serde::Deserialize;

pub use lt_plugin::prior::effective_number_weights;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LdamConfig {
    /// Largest margin (the rarest class's); the paper and code use 0.5.
    max_m: f64,
    /// Logit scale; the code uses 30 with the cosine classifier.
    s: f64,
    /// Deferred re-weighting on/off.
    drw: bool,
    /// Fraction of the stage after which the DRW weights apply (160/200 in the paper).
    drw_at: f64,
    /// Effective-number beta of the DRW weights.
    beta: f64,
    /// Multiply the logits by `s` at evaluation.
    eval_scale: bool,
}

impl Default for LdamConfig {
    fn default() -> Self {
        LdamConfig {
            max_m: 0.5,
            s: 30.0,
            drw: true,
            drw_at: 0.8,
            beta: 0.9999,
            eval_scale: true,
        }
    }
}

/// CE-DRW: only the schedule keys (margins 0, scale 1).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DrwConfig {
    drw: bool,
    drw_at: f64,
    beta: f64,
}

impl Default for DrwConfig {
    fn default() -> Self {
        DrwConfig {
            drw: true,
            drw_at: 0.8,
            beta: 0.9999,
        }
    }
}

pub struct LdamLoss {
    /// Per-class margins [K] (double, on the dataset device; cast to the logits' kind per call).
    margins: Tensor,
    s: f64,
    drw: bool,
    drw_at: f64,
    /// DRW weights [K] (double); used once `active`.
    weights: Tensor,
    active: bool,
    eval_scale: bool,
    num_classes: usize,
}

impl LdamLoss {
    /// The `ldam` component.
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<LdamLoss> {
        let c: LdamConfig = config.parse()?;
        check::at_least("max_m", c.max_m, 0.0)?;
        check::positive("s", c.s)?;
        Self::build(data, c)
    }

    /// The `ce-drw` component: cross-entropy with deferred re-weighting (the paper's CE-DRW
    /// baseline), i.e. LDAM with zero margins and unit scale.
    pub fn new_ce_drw(config: &Config, data: &DatasetInfo) -> Result<LdamLoss> {
        let c: DrwConfig = config.parse()?;
        let ldam = LdamConfig {
            max_m: 0.0,
            s: 1.0,
            drw: c.drw,
            drw_at: c.drw_at,
            beta: c.beta,
            eval_scale: false,
        };
        Self::build(data, ldam)
    }

    /// The loss of a checked configuration (`max_m` and `s` checked by the caller).
    fn build(data: &DatasetInfo, c: LdamConfig) -> Result<LdamLoss> {
        if !(0.0..=1.0).contains(&c.drw_at) {
            return Err(Error::Config(format!(
                "drw_at is a fraction of the stage in [0, 1], got {}",
                c.drw_at
            )));
        }
        check::class_counts(data)?;
        let margins = ldam_margins(&data.class_counts, c.max_m)?;
        let weights = effective_number_weights(&data.class_counts, c.beta)?;
        Ok(LdamLoss {
            margins: Tensor::from_slice(&margins).to_device(data.device),
            s: c.s,
            drw: c.drw,
            drw_at: c.drw_at,
            weights: Tensor::from_slice(&weights).to_device(data.device),
            active: false,
            eval_scale: c.eval_scale,
            num_classes: data.num_classes,
        })
    }

    /// Whether the DRW weights are in use for the current epoch.
    pub fn reweighting(&self) -> bool {
        self.active
    }
}

impl Loss for LdamLoss {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.num_classes)?;
        let kind = logits.kind();
        let dev = logits.device();
        let t = targets.f_unsqueeze(1)?;
        let one_hot = logits.f_zeros_like()?.f_scatter_value(1, &t, 1.0)?;
        let m = self
            .margins
            .f_to_device(dev)?
            .f_to_kind(kind)?
            .f_index_select(0, targets)?
            .f_unsqueeze(1)?;
        let z = logits.f_sub(&one_hot.f_mul(&m)?)?.f_mul_scalar(self.s)?;
        let nll = z
            .f_log_softmax(-1, kind)?
            .f_gather(1, &t, false)?
            .f_squeeze_dim(1)?
            .f_neg()?;
        if self.active {
            let w = self
                .weights
                .f_to_device(dev)?
                .f_to_kind(kind)?
                .f_index_select(0, targets)?;
            Ok(nll.f_mul(&w)?.f_sum(kind)?.f_div(&w.f_sum(kind)?)?)
        } else {
            Ok(nll.f_mean(kind)?)
        }
    }

    fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        if self.eval_scale && self.s != 1.0 {
            Ok(Some(logits.f_mul_scalar(self.s)?))
        } else {
            Ok(None)
        }
    }

    fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        self.active = self.drw && ctx.epoch >= drw_epoch(self.drw_at, ctx.total_epochs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Config {
        Config::from_json(json).unwrap()
    }

    fn ctx(epoch: u32, total: u32) -> StepCtx {
        StepCtx {
            epoch,
            total_epochs: total,
            stage: 1,
            step: 0,
        }
    }

    fn t2(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    /// The paper's formula, in plain f64: weighted mean of -log softmax(s(z - m_y e_y))_y.
    fn by_hand(z: &[[f64; 3]], y: &[usize], m: &[f64], s: f64, w: Option<&[f64]>) -> f64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (row, &t) in z.iter().zip(y) {
            let a: Vec<f64> = (0..3)
                .map(|j| s * (row[j] - if j == t { m[t] } else { 0.0 }))
                .collect();
            let lse = a.iter().map(|v| v.exp()).sum::<f64>().ln();
            let wt = w.map_or(1.0, |w| w[t]);
            num += wt * (lse - a[t]);
            den += wt;
        }
        num / den
    }

    #[test]
    fn loss_matches_the_formula_by_hand() {
        let counts = vec![100u64, 10, 1];
        let d = DatasetInfo::for_test(counts.clone());
        let mut l = LdamLoss::new(&cfg(r#"{"s": 2.0, "max_m": 0.5}"#), &d).unwrap();
        let z = [[0.3, -0.2, 0.1], [0.05, 0.4, -0.6], [-0.1, 0.2, 0.9]];
        let y = [0usize, 1, 2];
        let logits = t2(&z.concat(), 3);
        let targets = Tensor::from_slice(&[0i64, 1, 2]);
        let got = l
            .forward(&logits, &targets, &ctx(0, 10))
            .unwrap()
            .double_value(&[]);
        let m = ldam_margins(&counts, 0.5).unwrap();
        let want = by_hand(&z, &y, &m, 2.0, None);
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        // The margin makes the loss larger than plain scaled CE.
        let plain = by_hand(&z, &y, &[0.0; 3], 2.0, None);
        assert!(want > plain);

        // With DRW on, the batch loss is the w_y-weighted mean.
        l.on_epoch(&ctx(8, 10)).unwrap();
        assert!(l.reweighting());
        let got = l
            .forward(&logits, &targets, &ctx(8, 10))
            .unwrap()
            .double_value(&[]);
        let w = effective_number_weights(&counts, 0.9999).unwrap();
        let want = by_hand(&z, &y, &m, 2.0, Some(&w));
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let d = DatasetInfo::for_test(vec![50, 7, 2]);
        let mut l = LdamLoss::new(&cfg(r#"{"s": 3.0}"#), &d).unwrap();
        let targets = Tensor::from_slice(&[2i64, 0, 1, 2]);
        let base = [
            0.2, -0.4, 0.7, 0.1, 0.0, -0.3, -0.5, 0.6, 0.25, 0.9, -0.8, 0.05,
        ];
        for epoch in [0u32, 9] {
            l.on_epoch(&ctx(epoch, 10)).unwrap();
            let x = t2(&base, 4).set_requires_grad(true);
            let loss = l.forward(&x, &targets, &ctx(epoch, 10)).unwrap();
            loss.backward();
            let g: Vec<f64> = Vec::try_from(x.grad().reshape([-1])).unwrap();
            let h = 1e-6;
            for i in 0..base.len() {
                let mut p = base;
                p[i] += h;
                let mut q = base;
                q[i] -= h;
                let mut f = |v: &[f64]| {
                    l.forward(&t2(v, 4), &targets, &ctx(epoch, 10))
                        .unwrap()
                        .double_value(&[])
                };
                let fd = (f(&p) - f(&q)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-7,
                    "epoch {epoch} [{i}]: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn drw_weights_are_off_before_drw_at_and_on_after() {
        let counts = vec![1000u64, 100, 10];
        let d = DatasetInfo::for_test(counts.clone());
        let mut l = LdamLoss::new(&cfg("{}"), &d).unwrap();
        // The paper's schedule: 200 epochs, weights from epoch 160 (zero-based).
        for (e, on) in [(0, false), (159, false), (160, true), (199, true)] {
            l.on_epoch(&ctx(e, 200)).unwrap();
            assert_eq!(l.reweighting(), on, "epoch {e}");
        }
        // A short stage keeps the shape: 10 epochs switch at 8.
        l.on_epoch(&ctx(7, 10)).unwrap();
        assert!(!l.reweighting());
        l.on_epoch(&ctx(8, 10)).unwrap();
        assert!(l.reweighting());
        // The weighted loss differs from the unweighted one on an imbalanced batch.
        let logits = t2(&[0.1, 0.2, 0.3, 0.4, -0.2, 0.0], 2);
        let targets = Tensor::from_slice(&[0i64, 2]);
        let on = l
            .forward(&logits, &targets, &ctx(8, 10))
            .unwrap()
            .double_value(&[]);
        l.on_epoch(&ctx(2, 10)).unwrap();
        let off = l
            .forward(&logits, &targets, &ctx(2, 10))
            .unwrap()
            .double_value(&[]);
        assert!((on - off).abs() > 1e-3, "{on} vs {off}");
        // drw = false never re-weights.
        let mut n = LdamLoss::new(&cfg(r#"{"drw": false}"#), &d).unwrap();
        n.on_epoch(&ctx(199, 200)).unwrap();
        assert!(!n.reweighting());
    }

    #[test]
    fn ce_drw_is_cross_entropy_before_the_switch() {
        let d = DatasetInfo::for_test(vec![9, 3, 1]);
        let mut l = LdamLoss::new_ce_drw(&cfg("{}"), &d).unwrap();
        let logits = t2(&[1.0, -0.5, 0.3, 0.2, 2.0, -1.0], 2);
        let targets = Tensor::from_slice(&[2i64, 1]);
        l.on_epoch(&ctx(0, 10)).unwrap();
        let got = l.forward(&logits, &targets, &ctx(0, 10)).unwrap();
        let ce = logits
            .log_softmax(-1, lt_plugin::tch::Kind::Double)
            .nll_loss(&targets);
        assert!((got.double_value(&[]) - ce.double_value(&[])).abs() < 1e-12);
        assert!(l.adjust_logits(&logits).unwrap().is_none());
    }

    #[test]
    fn eval_scales_logits_by_s_and_bad_configs_are_errors() {
        let d = DatasetInfo::for_test(vec![9, 3, 1]);
        let mut l = LdamLoss::new(&cfg("{}"), &d).unwrap();
        let z = t2(&[0.5, -0.25, 0.1], 1);
        let a = l.adjust_logits(&z).unwrap().unwrap();
        assert!((a - &z * 30.0).abs().max().double_value(&[]) < 1e-12);
        let mut off = LdamLoss::new(&cfg(r#"{"eval_scale": false}"#), &d).unwrap();
        assert!(off.adjust_logits(&z).unwrap().is_none());
        for (json, msg) in [
            (r#"{"s": 0}"#, "s must be > 0"),
            (r#"{"max_m": -1}"#, "max_m must be >= 0"),
            (r#"{"drw_at": 1.5}"#, "drw_at"),
            (r#"{"beta": 1.0}"#, "beta must be in [0, 1)"),
            (r#"{"smax": 1.0}"#, "unknown field"),
        ] {
            let e = LdamLoss::new(&cfg(json), &d).err().expect(json);
            assert!(e.to_string().contains(msg), "{json}: {e}");
        }
        let bad = LdamLoss::new(&cfg("{}"), &d).unwrap().forward(
            &t2(&[0.0; 4], 2),
            &Tensor::from_slice(&[0i64, 1]),
            &ctx(0, 1),
        );
        assert!(bad
            .err()
            .unwrap()
            .to_string()
            .contains("expected logits [B,3]"));
    }
}
