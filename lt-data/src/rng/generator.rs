//! [`Rng`], the one generator type: an [`Engine`] of raw 64-bit words and the draws made from
//! them. Each draw has one name and one method, because a stream's values depend on the
//! method (three ways to draw an integer below `n` are in use, each pinned by saved runs).

use super::splitmix::{mix64, GOLDEN};
use super::SplitMix64;

/// A source of uniformly random 64-bit words.
pub trait Engine {
    fn next_u64(&mut self) -> u64;
}

/// A seeded generator over engine `E` ([`SplitMix64`] unless said otherwise).
///
/// ```
/// use lt_data::rng::Rng;
/// let mut r = Rng::new(5);
/// assert!(r.below(10) < 10);
/// assert!((0.0..1.0).contains(&r.unit()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng<E = SplitMix64> {
    engine: E,
}

impl Rng<SplitMix64> {
    /// The SplitMix64 generator for `seed` (its counter starts at a hash of the seed).
    pub fn new(seed: u64) -> Self {
        Rng::from_state(mix64(seed ^ 0x5851_f42d_4c95_7f2d))
    }

    /// The SplitMix64 generator whose counter starts at `state` exactly.
    pub fn from_state(state: u64) -> Self {
        Rng::from_engine(SplitMix64::from_state(state))
    }

    /// A generator keyed by several numbers (seed, epoch, position, stream id...), so that
    /// independent streams never overlap in practice.
    pub fn keyed(parts: &[u64]) -> Self {
        let mut h = GOLDEN;
        for &p in parts {
            h = mix64(h ^ p.wrapping_mul(0xd6e8_feb8_6659_fd93)).wrapping_add(GOLDEN);
        }
        Rng::new(h)
    }
}

impl<E: Engine> Rng<E> {
    pub fn from_engine(engine: E) -> Self {
        Rng { engine }
    }

    /// The next raw 64-bit word.
    pub fn next_u64(&mut self) -> u64 {
        self.engine.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `0..n` (`n > 0`) by one multiply-shift: one word per draw, bias below
    /// `n / 2^64` (the samplers' and augmentations' draw).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `0..n` (`n > 0`) without bias by Lemire's multiply-and-reject (the split's
    /// per-class draw).
    pub fn below_lemire(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `0..n` (`n > 0`) without bias by rejecting the top partial zone and taking
    /// the remainder (mixup's draw).
    pub fn below_mod(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// Fisher-Yates shuffle from the end, drawing with [`Rng::below`].
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// Fisher-Yates shuffle from the end, drawing with [`Rng::below_mod`].
    pub fn shuffle_mod<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below_mod(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}
