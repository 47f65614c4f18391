//! Mixup (Zhang et al. 2018) as used by MiSLAS: `lam ~ Beta(alpha, alpha)`, pair every sample
//! with `x[index]` for a random permutation `index`, `mixed = lam * x + (1 - lam) * x[index]`,
//! and the loss is `lam * CE(out, y_a) + (1 - lam) * CE(out, y_b)`.
//!
//! `lam` and the permutation come from a seedable generator in Rust (the stream
//! `lt_data::rng::streams::mixup_epoch`), so a run is reproducible on any device; the
//! permutation crosses in one non-blocking copy and the arithmetic happens on the tensors'
//! device.
use crate::{Error, Result};
use lt_data::rng::{Rng, Xoshiro256};
use tch::{Kind, Tensor};

/// A uniform random permutation of `0..n` (Fisher–Yates with mixup's `below_mod` draw).
fn permutation(rng: &mut Rng<Xoshiro256>, n: usize) -> Vec<i64> {
    let mut v: Vec<i64> = (0..n as i64).collect();
    rng.shuffle_mod(&mut v);
    v
}

/// Mixes a batch: returns `(mixed, y_a, y_b, lam)` with `y_a = y`, `y_b = y[index]`.
/// `alpha <= 0` disables mixing (`lam = 1`, `y_b = y`, `mixed` is `x` itself) and draws nothing.
pub fn mixup(
    x: &Tensor,
    y: &Tensor,
    alpha: f64,
    rng: &mut Rng<Xoshiro256>,
) -> Result<(Tensor, Tensor, Tensor, f64)> {
    let n = x.size().first().copied().unwrap_or(0);
    if y.size().first().copied() != Some(n) {
        return Err(Error::Usage(format!(
            "mixup: {} images but labels of shape {:?}",
            n,
            y.size()
        )));
    }
    if !alpha.is_finite() {
        return Err(Error::Usage(format!(
            "mixup: alpha must be finite, got {alpha}"
        )));
    }
    if alpha <= 0.0 {
        return Ok((x.shallow_clone(), y.shallow_clone(), y.shallow_clone(), 1.0));
    }
    let lam = rng.beta(alpha, alpha);
    // Pinned and non-blocking on CUDA: a pageable copy would make the host wait for the device.
    let index = crate::device::to_device(&permutation(rng, n as usize), &[n], x.device())?;
    let x_b = x.f_index_select(0, &index)?;
    let mixed = x.f_mul_scalar(lam)?.f_add(&x_b.f_mul_scalar(1.0 - lam)?)?;
    let y_b = y.f_index_select(0, &index)?;
    Ok((mixed, y.shallow_clone(), y_b, lam))
}

/// The mixup loss `lam * CE(logits, y_a) + (1 - lam) * CE(logits, y_b)` (mean reduction).
pub fn mixup_cross_entropy(logits: &Tensor, y_a: &Tensor, y_b: &Tensor, lam: f64) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    let la = logp.nll_loss(y_a);
    if lam >= 1.0 {
        return la;
    }
    la * lam + logp.nll_loss(y_b) * (1.0 - lam)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn rng(seed: u64) -> Rng<Xoshiro256> {
        Rng::from_engine(Xoshiro256::seeded(seed))
    }

    #[test]
    fn mixup_pairs_by_a_permutation() {
        let mut r = rng(3);
        let x = Tensor::randn([16, 3, 4, 4], (Kind::Float, Device::Cpu));
        let y = Tensor::arange(16, (Kind::Int64, Device::Cpu));
        let (mixed, ya, yb, lam) = mixup(&x, &y, 1.0, &mut r).unwrap();
        assert!(lam > 0.0 && lam < 1.0);
        assert!(ya.equal(&y));
        // y is 0..16, so y_b is the permutation itself.
        let mut idx = Vec::<i64>::try_from(&yb).unwrap();
        let perm = idx.clone();
        idx.sort();
        assert_eq!(idx, (0..16).collect::<Vec<i64>>());
        let expect = &x * lam + x.index_select(0, &Tensor::from_slice(&perm)) * (1.0 - lam);
        assert!(mixed.allclose(&expect, 1e-6, 1e-6, false));
        // Same seed, same draw.
        let (m2, _, yb2, lam2) = mixup(&x, &y, 1.0, &mut rng(3)).unwrap();
        assert_eq!(lam, lam2);
        assert!(yb2.equal(&yb) && m2.equal(&mixed));
    }

    #[test]
    fn mixup_disabled_and_errors() {
        let mut r = rng(3);
        let before = r.clone();
        let x = Tensor::randn([4, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[1i64, 0, 1, 0]);
        let (m, _, yb, lam) = mixup(&x, &y, 0.0, &mut r).unwrap();
        assert_eq!(lam, 1.0);
        assert!(m.equal(&x) && yb.equal(&y));
        assert_eq!(r, before, "alpha 0 draws nothing");
        assert!(mixup(&x, &Tensor::from_slice(&[1i64]), 1.0, &mut r).is_err());
    }

    #[test]
    fn mixup_loss_is_the_weighted_sum() {
        let logits = Tensor::from_slice2(&[[2.0f32, 0.0, -1.0], [0.5, 0.5, 0.0]]);
        let ya = Tensor::from_slice(&[0i64, 1]);
        let yb = Tensor::from_slice(&[2i64, 0]);
        let l = mixup_cross_entropy(&logits, &ya, &yb, 0.3).double_value(&[]);
        let ce = |y: &Tensor| logits.cross_entropy_for_logits(y).double_value(&[]);
        assert!((l - (0.3 * ce(&ya) + 0.7 * ce(&yb))).abs() < 1e-6);
    }
}
