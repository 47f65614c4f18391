//! Fixtures the loss tests share: a 3-class batch, its prior, cross-entropy by hand and a
//! finite-difference gradient check.

use lt_plugin::tch::Tensor;
use lt_plugin::{Config, DatasetInfo, Loss, StepCtx};

pub fn cfg(json: &str) -> Config {
    Config::from_json(json).unwrap()
}

pub const Z: [[f64; 3]; 3] = [[0.3, -1.2, 2.1], [1.5, 0.4, -0.6], [-0.1, 0.2, 0.9]];
pub const Y: [usize; 3] = [0, 1, 2];
pub const COUNTS: [u64; 3] = [60, 12, 3];

pub fn logits() -> Tensor {
    Tensor::from_slice(&Z.concat()).reshape([3, 3])
}
pub fn targets() -> Tensor {
    Tensor::from_slice(&[0i64, 1, 2])
}
pub fn value(l: &mut dyn Loss) -> f64 {
    l.forward(&logits(), &targets(), &StepCtx::default())
        .unwrap()
        .double_value(&[])
}

/// `-log softmax(row + shift)_t` in plain f64.
pub fn ce_row(row: &[f64; 3], shift: &[f64], t: usize) -> f64 {
    let a: Vec<f64> = (0..3).map(|j| row[j] + shift[j]).collect();
    a.iter().map(|v| v.exp()).sum::<f64>().ln() - a[t]
}
pub fn mean_ce(shift: &[f64]) -> f64 {
    Z.iter()
        .zip(Y)
        .map(|(r, t)| ce_row(r, shift, t))
        .sum::<f64>()
        / 3.0
}
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Central differences of the loss against its autograd gradient, in double precision.
pub fn check_gradient(l: &mut dyn Loss) {
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

pub fn log_pi() -> Vec<f64> {
    let n: f64 = COUNTS.iter().map(|&c| c as f64).sum();
    COUNTS.iter().map(|&c| (c as f64 / n).ln()).collect()
}

/// The dataset of [`COUNTS`].
pub fn data() -> DatasetInfo {
    DatasetInfo::for_test(COUNTS.to_vec())
}
