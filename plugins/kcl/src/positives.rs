//! Which views are an anchor's positives, and the seeded generator that draws them.
//!
//! The 2B views are ordered `[view 1 of images 0..B, view 2 of images 0..B]`, so view `a`'s
//! other view is `(a + B) mod 2B`. An anchor's positives are its other view (always, as in the
//! paper's `{v~_i} ∪ V+_{i,k}`) plus `k` views drawn uniformly without replacement among the
//! other views of its class, excluding itself and its other view; a class with at most `k` such
//! views contributes all of them (the official code, taking the first `k` same-class keys of
//! its queue, also uses fewer when fewer are there).

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, well-mixed 64-bit generator.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for one training step: the dataset seed and the step mixed into one state.
    pub fn for_step(seed: u64, step: u64) -> SplitMix64 {
        let mut s = SplitMix64(step);
        SplitMix64(seed ^ s.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`), by the multiply-shift map of 64 random bits.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// Positive weights [2B x 2B] row-major: 1.0 where view j is a positive of anchor a, else 0.
/// `labels` holds the 2B views' labels in the order above (its length must be even).
pub fn positive_mask(labels: &[i64], k: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let n = labels.len();
    let half = n / 2;
    let mut mask = vec![0.0; n * n];
    for a in 0..n {
        let partner = (a + half) % n;
        mask[a * n + partner] = 1.0;
        let mut pool: Vec<usize> = (0..n)
            .filter(|&j| j != a && j != partner && labels[j] == labels[a])
            .collect();
        let take = k.min(pool.len());
        // Partial Fisher-Yates: the first `take` entries become a uniform draw without replacement.
        for t in 0..take {
            let pick = t + rng.below(pool.len() - t);
            pool.swap(t, pick);
            mask[a * n + pool[t]] = 1.0;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positives_of(mask: &[f64], n: usize, a: usize) -> Vec<usize> {
        (0..n).filter(|&j| mask[a * n + j] == 1.0).collect()
    }

    #[test]
    fn other_view_always_and_k_of_the_same_class() {
        // B = 5 images with labels [0, 0, 0, 0, 1]; views 0..5 then 5..10.
        let labels = [0i64, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        let mut rng = SplitMix64::for_step(7, 3);
        let m = positive_mask(&labels, 2, &mut rng);
        for a in 0..10 {
            let p = positives_of(&m, 10, a);
            assert!(p.contains(&((a + 5) % 10)), "anchor {a}: {p:?}");
            assert!(!p.contains(&a), "anchor {a} is not its own positive");
            assert!(p.iter().all(|&j| labels[j] == labels[a]), "{a}: {p:?}");
            // Class 0: 6 candidates, k = 2 drawn -> 3 positives; class 1: none -> 1.
            let want = if labels[a] == 0 { 3 } else { 1 };
            assert_eq!(p.len(), want, "anchor {a}: {p:?}");
        }
        // k at least the class size: every same-class view (supervised-contrastive positives).
        let all = positive_mask(&labels, 6, &mut rng);
        assert_eq!(positives_of(&all, 10, 0), vec![1, 2, 3, 5, 6, 7, 8]);
        // k = 0: only the other view (instance discrimination).
        let none = positive_mask(&labels, 0, &mut rng);
        assert_eq!(positives_of(&none, 10, 2), vec![7]);
    }

    #[test]
    fn draws_are_uniform_over_the_candidates() {
        // Anchor 0 has candidates {1, 2, 3, 6, 7, 8}; with k = 2 each should be drawn with
        // probability 2/6 = 1/3.
        let labels = [0i64, 0, 0, 0, 1, 0, 0, 0, 0, 1];
        let steps = 6000;
        let mut counts = [0usize; 10];
        for step in 0..steps {
            let m = positive_mask(&labels, 2, &mut SplitMix64::for_step(11, step));
            for (j, c) in counts.iter_mut().enumerate() {
                *c += (m[j] == 1.0 && j != 5) as usize;
            }
        }
        for j in [1usize, 2, 3, 6, 7, 8] {
            let f = counts[j] as f64 / steps as f64;
            assert!((f - 1.0 / 3.0).abs() < 0.025, "candidate {j}: {f}");
        }
        assert_eq!(counts[4] + counts[9] + counts[0], 0);
    }

    #[test]
    fn same_seed_and_step_same_draw_other_step_other_draw() {
        let labels: Vec<i64> = (0..64).map(|i| (i % 32) as i64 / 8).collect();
        let m = |seed, step| positive_mask(&labels, 3, &mut SplitMix64::for_step(seed, step));
        assert_eq!(m(5, 100), m(5, 100));
        assert_ne!(m(5, 100), m(5, 101));
        assert_ne!(m(5, 100), m(6, 100));
    }
}
