//! Label-aware smoothing (MiSLAS, Zhong et al., CVPR 2021, Eq. 5-6).
//!
//! Head classes are over-confident and tail classes under-confident after re-balancing, so each
//! class y gets its own smoothing factor eps_y, growing with its training count N_y from
//! `smooth_tail` (smallest class, N_K) to `smooth_head` (largest class, N_1). With
//! x_y = (N_y - N_K) / (N_1 - N_K) in [0, 1] and d = smooth_head - smooth_tail:
//!
//! * concave: eps_y = tail + d * sin(pi/2 * x_y)
//! * linear:  eps_y = tail + d * x_y
//! * convex:  eps_y = tail + d * (1 - cos(pi/2 * x_y))  (the official code writes it as
//!   head + d * sin(3pi/2 + pi/2 * x_y), which is the same function)
//! * exp:     eps_y = tail + d * x_y^power
//!
//! The loss of one sample is (1 - eps_y) * (-log p_y) + eps_y * mean_k(-log p_k), averaged over
//! the batch: cross-entropy against the target (1 - eps_y) * onehot(y) + eps_y / K.

use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Error, Loss, Result, StepCtx};
use serde::Deserialize;

/// How eps_y grows with the class count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    Concave,
    Linear,
    Convex,
    /// x^power.
    Exp(f64),
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LasConfig {
    smooth_head: f64,
    smooth_tail: f64,
    shape: String,
    power: Option<f64>,
}

impl Default for LasConfig {
    /// The paper's CIFAR-10-LT (IF 100) setting.
    fn default() -> Self {
        LasConfig {
            smooth_head: 0.3,
            smooth_tail: 0.0,
            shape: "concave".into(),
            power: None,
        }
    }
}

/// Per-class smoothing factors for `counts` (label order). When every class has the same count
/// the formula's x is 0/0; every class is then both the largest and the smallest, and we give it
/// `smooth_head`.
pub fn smoothing_factors(counts: &[u64], head: f64, tail: f64, shape: Shape) -> Vec<f64> {
    let n_max = counts.iter().copied().max().unwrap_or(0) as f64;
    let n_min = counts.iter().copied().min().unwrap_or(0) as f64;
    let d = head - tail;
    counts
        .iter()
        .map(|&n| {
            if n_max == n_min {
                return head;
            }
            let x = (n as f64 - n_min) / (n_max - n_min);
            let half_pi = std::f64::consts::FRAC_PI_2;
            match shape {
                Shape::Concave => tail + d * (half_pi * x).sin(),
                Shape::Linear => tail + d * x,
                Shape::Convex => tail + d * (1.0 - (half_pi * x).cos()),
                Shape::Exp(p) => tail + d * x.powf(p),
            }
        })
        .collect()
}

/// The `las` loss component.
pub struct LabelAwareSmoothing {
    /// eps_y per class.
    eps: Vec<f64>,
}

impl LabelAwareSmoothing {
    /// Config: `smooth_head` (0.3), `smooth_tail` (0.0), `shape` (concave | linear | convex |
    /// exp), `power` (required for exp).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<LabelAwareSmoothing> {
        let c: LasConfig = config.parse_or_default()?;
        for (name, v) in [
            ("smooth_head", c.smooth_head),
            ("smooth_tail", c.smooth_tail),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Config(format!("{name} must lie in [0, 1], got {v}")));
            }
        }
        let shape = match (c.shape.as_str(), c.power) {
            ("concave", _) => Shape::Concave,
            ("linear", _) => Shape::Linear,
            ("convex", _) => Shape::Convex,
            ("exp", Some(p)) if p.is_finite() && p > 0.0 => Shape::Exp(p),
            ("exp", Some(p)) => return Err(Error::Config(format!("power must be > 0, got {p}"))),
            ("exp", None) => return Err(Error::Config("shape \"exp\" needs a `power`".into())),
            (s, _) => {
                return Err(Error::Config(format!(
                    "unknown shape {s:?} (concave, linear, convex, exp)"
                )))
            }
        };
        if data.class_counts.len() != data.num_classes || data.num_classes == 0 {
            return Err(Error::Data(format!(
                "need one training count per class, got {} counts for {} classes",
                data.class_counts.len(),
                data.num_classes
            )));
        }
        Ok(LabelAwareSmoothing {
            eps: smoothing_factors(&data.class_counts, c.smooth_head, c.smooth_tail, shape),
        })
    }

    /// eps_y per class, in label order.
    pub fn factors(&self) -> &[f64] {
        &self.eps
    }
}

impl Loss for LabelAwareSmoothing {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, _ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(logits, targets, self.eps.len())?;
        // Keep the logits' precision (double in the gradient tests).
        let kind = logits.kind();
        let eps = Tensor::from_slice(&self.eps)
            .f_to_kind(kind)?
            .f_to_device(logits.device())?
            .f_index_select(0, targets)?;
        let log_p = logits.f_log_softmax(-1, kind)?;
        let nll = log_p
            .f_gather(1, &targets.f_unsqueeze(1)?, false)?
            .f_squeeze_dim(1)?
            .f_neg()?;
        let smooth = log_p.f_mean_dim(-1, false, kind)?.f_neg()?;
        let per_sample = (eps.f_neg()?.f_add_scalar(1.0)? * nll).f_add(&(eps * smooth))?;
        Ok(per_sample.f_mean(kind)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::{Device, Kind};

    fn info(counts: &[u64]) -> DatasetInfo {
        DatasetInfo::for_test(counts.to_vec())
    }

    fn ctx() -> StepCtx {
        StepCtx {
            epoch: 0,
            total_epochs: 1,
            stage: 2,
            step: 0,
        }
    }

    fn las(json: &str, counts: &[u64]) -> LabelAwareSmoothing {
        LabelAwareSmoothing::new(&Config::from_json(json).unwrap(), &info(counts)).unwrap()
    }

    fn logits() -> (Tensor, Tensor) {
        let l = Tensor::from_slice(&[
            2.0f64, -1.0, 0.5, 0.0, //
            -0.3, 1.2, 0.7, -2.0, //
            0.1, 0.1, 3.0, -0.5,
        ])
        .reshape([3, 4]);
        (l, Tensor::from_slice(&[0i64, 3, 2]))
    }

    /// Counts 100, 70, 40, 10: x = 1, 2/3, 1/3, 0.
    const COUNTS: [u64; 4] = [100, 70, 40, 10];

    #[test]
    fn factors_follow_each_shape_by_hand() {
        let x = [1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0];
        let (h, t) = (0.4, 0.1);
        type Profile = fn(f64) -> f64;
        let cases: [(&str, Profile); 4] = [
            ("concave", |x: f64| (x * std::f64::consts::PI / 2.0).sin()),
            ("linear", |x: f64| x),
            ("convex", |x: f64| {
                1.0 - (x * std::f64::consts::PI / 2.0).cos()
            }),
            ("exp", |x: f64| x * x * x),
        ];
        for (shape, f) in cases {
            let l = las(
                &format!(r#"{{"smooth_head":{h},"smooth_tail":{t},"shape":"{shape}","power":3}}"#),
                &COUNTS,
            );
            for (c, &xc) in x.iter().enumerate() {
                let want = t + (h - t) * f(xc);
                assert!((l.factors()[c] - want).abs() < 1e-12, "{shape} class {c}");
            }
            // Largest class gets smooth_head, smallest smooth_tail, whatever the shape.
            assert!((l.factors()[0] - h).abs() < 1e-12 && (l.factors()[3] - t).abs() < 1e-12);
        }
        // The official convex formula, written as it is there.
        let official = |x: f64| {
            h + (h - t) * (1.5 * std::f64::consts::PI + x * std::f64::consts::PI / 2.0).sin()
        };
        let l = las(
            r#"{"smooth_head":0.4,"smooth_tail":0.1,"shape":"convex"}"#,
            &COUNTS,
        );
        for (c, &xc) in x.iter().enumerate() {
            assert!((l.factors()[c] - official(xc)).abs() < 1e-12);
        }
        // Concave: sin(pi/3) at x = 2/3, by hand: 0.1 + 0.3 * 0.866025403784.
        assert!(
            (las(r#"{"smooth_head":0.4,"smooth_tail":0.1}"#, &COUNTS).factors()[1]
                - 0.359_807_621_135)
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn zero_smoothing_is_cross_entropy() {
        let (l, y) = logits();
        let mut loss = las(r#"{"smooth_head":0.0,"smooth_tail":0.0}"#, &COUNTS);
        let got = loss.forward(&l, &y, &ctx()).unwrap().double_value(&[]);
        let ce = l
            .log_softmax(-1, Kind::Double)
            .nll_loss(&y)
            .double_value(&[]);
        assert!((got - ce).abs() < 1e-12, "{got} vs {ce}");
    }

    /// The loss by hand from the formula, in plain f64.
    fn by_hand(l: &[[f64; 4]], y: &[usize], eps: &[f64]) -> f64 {
        let mut total = 0.0;
        for (row, &t) in l.iter().zip(y) {
            let m = row.iter().cloned().fold(f64::MIN, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            let logp: Vec<f64> = row.iter().map(|v| v - lse).collect();
            let e = eps[t];
            total += (1.0 - e) * -logp[t] + e * -(logp.iter().sum::<f64>() / 4.0);
        }
        total / l.len() as f64
    }

    #[test]
    fn value_matches_hand_computation_for_each_shape() {
        let rows = [
            [2.0, -1.0, 0.5, 0.0],
            [-0.3, 1.2, 0.7, -2.0],
            [0.1, 0.1, 3.0, -0.5],
        ];
        let (l, y) = logits();
        for shape in ["concave", "linear", "convex", "exp"] {
            let mut loss = las(
                &format!(
                    r#"{{"smooth_head":0.3,"smooth_tail":0.05,"shape":"{shape}","power":2.0}}"#
                ),
                &COUNTS,
            );
            let eps = loss.factors().to_vec();
            let got = loss.forward(&l, &y, &ctx()).unwrap().double_value(&[]);
            let want = by_hand(&rows, &[0, 3, 2], &eps);
            assert!((got - want).abs() < 1e-12, "{shape}: {got} vs {want}");
        }
        // One fully written-out number: concave, head 0.3, tail 0.0, one sample of class 1
        // (x = 2/3, eps = 0.3 sin(pi/3) = 0.259808) with logits [0, ln 2, 0, 0]: p = [1,2,1,1]/5,
        // loss = (1-eps) ln(5/2) + eps * (4 ln 5 - ln 2)/4 = 0.678231 + 0.373123 = 1.051354.
        let mut loss = las(r#"{"smooth_head":0.3,"smooth_tail":0.0}"#, &COUNTS);
        let l1 = Tensor::from_slice(&[0.0f64, 2f64.ln(), 0.0, 0.0]).reshape([1, 4]);
        let got = loss
            .forward(&l1, &Tensor::from_slice(&[1i64]), &ctx())
            .unwrap()
            .double_value(&[]);
        let eps = 0.3 * (std::f64::consts::PI / 3.0).sin();
        let want = (1.0 - eps) * 2.5f64.ln() + eps * (4.0 * 5f64.ln() - 2f64.ln()) / 4.0;
        assert!(
            (got - want).abs() < 1e-12 && (got - 1.051354).abs() < 1e-6,
            "{got}"
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (l, y) = logits();
        let mut loss = las(
            r#"{"smooth_head":0.4,"smooth_tail":0.1,"shape":"concave"}"#,
            &COUNTS,
        );
        let x = l.copy().set_requires_grad(true);
        let v = loss.forward(&x, &y, &ctx()).unwrap();
        v.backward();
        let g = x.grad();
        let h = 1e-6;
        for i in 0..3 {
            for j in 0..4 {
                let mut bump = |d: f64| {
                    let p = l.copy();
                    let _ = p.get(i).get(j).f_add_scalar_(d).unwrap();
                    loss.forward(&p, &y, &ctx()).unwrap().double_value(&[])
                };
                let fd = (bump(h) - bump(-h)) / (2.0 * h);
                let an = g.double_value(&[i, j]);
                assert!((fd - an).abs() < 1e-8, "[{i},{j}] fd {fd} autograd {an}");
            }
        }
    }

    #[test]
    fn bad_configs_and_shapes_are_errors() {
        let mk = |j: &str| LabelAwareSmoothing::new(&Config::from_json(j).unwrap(), &info(&COUNTS));
        assert!(mk(r#"{"shape":"exp"}"#)
            .err()
            .unwrap()
            .to_string()
            .contains("power"));
        assert!(mk(r#"{"shape":"wavy"}"#)
            .err()
            .unwrap()
            .to_string()
            .contains("unknown shape"));
        assert!(mk(r#"{"smooth_head":1.5}"#)
            .err()
            .unwrap()
            .to_string()
            .contains("smooth_head"));
        assert!(mk(r#"{"smoth_head":0.1}"#).is_err());
        let mut l = las("{}", &COUNTS);
        let e = l.forward(
            &Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)),
            &Tensor::from_slice(&[0i64, 1]),
            &ctx(),
        );
        assert!(e.err().unwrap().to_string().contains("expected logits"));
        // Balanced counts: every class gets smooth_head, no NaN.
        assert_eq!(
            las(r#"{"smooth_head":0.2}"#, &[5, 5]).factors(),
            &[0.2, 0.2]
        );
    }
}
