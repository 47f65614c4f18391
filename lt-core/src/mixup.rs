//! Mixup (Zhang et al. 2018) as used by MiSLAS: `lam ~ Beta(alpha, alpha)`, pair every sample
//! with `x[index]` for a random permutation `index`, `mixed = lam * x + (1 - lam) * x[index]`,
//! and the loss is `lam * CE(out, y_a) + (1 - lam) * CE(out, y_b)`.
//!
//! `lam` and the permutation come from [`Rng`], a small seedable generator in Rust, so a run is
//! reproducible on any device; the permutation crosses in one non-blocking copy and the
//! arithmetic happens on the tensors' device.
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// xoshiro256** seeded through SplitMix64: fast, seedable, and identical on every platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose stream depends only on `seed`; derive per-epoch streams with
    /// `Rng::new(seed ^ epoch.wrapping_mul(K))` or [`Rng::for_epoch`].
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The stream for `(seed, epoch)`, so resuming at an epoch start recreates it exactly.
    pub fn for_epoch(seed: u64, epoch: u64) -> Self {
        Rng::new(seed ^ epoch.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n) without modulo bias (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang; shape < 1 through the `U^(1/shape)` boost.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y == 0.0 {
            0.5
        } else {
            x / (x + y)
        }
    }

    /// Uniform random permutation of 0..n (Fisher–Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<i64> {
        let mut v: Vec<i64> = (0..n as i64).collect();
        for i in (1..n).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }
}

/// Mixes a batch: returns `(mixed, y_a, y_b, lam)` with `y_a = y`, `y_b = y[index]`.
/// `alpha <= 0` disables mixing (`lam = 1`, `y_b = y`, `mixed` is `x` itself) and draws nothing.
pub fn mixup(
    x: &Tensor,
    y: &Tensor,
    alpha: f64,
    rng: &mut Rng,
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
    let index = crate::device::to_device(&rng.permutation(n as usize), &[n], x.device())?;
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

    #[test]
    fn rng_is_reproducible_and_uniform() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let va: Vec<u64> = (0..10).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..10).map(|_| b.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(Rng::new(43).next_u64(), va[0]);
        assert_ne!(Rng::for_epoch(42, 0), Rng::for_epoch(42, 1));
        let mut r = Rng::new(7);
        let n = 100_000;
        let mean = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }

    #[test]
    fn beta_moments() {
        let mut r = Rng::new(1);
        let n = 50_000;
        for (alpha, var) in [
            (1.0, 1.0 / 12.0),
            (0.2, 0.04 / (0.16 * 1.4)),
            (2.0, 4.0 / (16.0 * 5.0)),
        ] {
            let xs: Vec<f64> = (0..n).map(|_| r.beta(alpha, alpha)).collect();
            assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
            let m = xs.iter().sum::<f64>() / n as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
            assert!((m - 0.5).abs() < 0.01, "alpha {alpha}: mean {m}");
            assert!((v - var).abs() < 0.01, "alpha {alpha}: var {v} vs {var}");
        }
    }

    #[test]
    fn mixup_pairs_by_a_permutation() {
        let mut r = Rng::new(3);
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
        let (m2, _, yb2, lam2) = mixup(&x, &y, 1.0, &mut Rng::new(3)).unwrap();
        assert_eq!(lam, lam2);
        assert!(yb2.equal(&yb) && m2.equal(&mixed));
    }

    #[test]
    fn mixup_disabled_and_errors() {
        let mut r = Rng::new(3);
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
