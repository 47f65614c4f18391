//! numpy's legacy random generator (`np.random.seed` / `np.random.RandomState`), bit for bit.
//!
//! Long-tailed papers (LDAM-DRW, MiSLAS and the many repositories derived from them) carve
//! their CIFAR-LT training sets with `np.random.seed(0)` followed by `np.random.shuffle` of
//! each class's indices. Reproducing that stream here lets `--compat ldam` select exactly
//! the same images without Python. Everything in this file was checked against numpy 2.4's
//! output (the legacy `RandomState` stream has been frozen since numpy 1.17).

/// Number of 32-bit words of MT19937 state.
const N: usize = 624;
/// MT19937's middle offset.
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// The Mersenne Twister MT19937 as numpy's legacy `RandomState` drives it.
#[derive(Clone)]
pub struct Mt19937 {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// The state `np.random.seed(seed)` sets for an integer seed.
    ///
    /// numpy's legacy seeding of a Python `int` in [0, 2**32) is Matsumoto and Nishimura's
    /// `init_genrand` (key[0] = seed, key[i] = 1812433253 * (key[i-1] ^ key[i-1] >> 30) + i),
    /// not `init_by_array`: `RandomState(0).get_state()[1][:3]` is `[0, 1, 1812433255]`.
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        key[0] = seed;
        for i in 1..N {
            let prev = key[i - 1];
            key[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { key, pos: N }
    }

    /// The state `np.random.seed(array)` sets for a sequence of 32-bit words
    /// (`init_by_array`, the seeding numpy uses for array-like seeds).
    pub fn from_words(words: &[u32]) -> Self {
        let mut mt = Mt19937::new(19_650_218);
        let key = &mut mt.key;
        let len = words.len().max(1);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(len) {
            let prev = key[i - 1];
            let word = words.get(j).copied().unwrap_or(0);
            key[i] = (key[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(word)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                key[0] = key[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = key[i - 1];
            key[i] =
                (key[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                key[0] = key[N - 1];
                i = 1;
            }
        }
        // Guarantees a non-zero state whatever the words were.
        key[0] = 0x8000_0000;
        mt.pos = N;
        mt
    }

    /// Regenerates all 624 words (the "twist").
    fn generate(&mut self) {
        let key = &mut self.key;
        for i in 0..N {
            let y = (key[i] & UPPER_MASK) | (key[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            key[i] = key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next 32-bit output (numpy's `next_uint32`; `randint(0, 2**32, dtype=np.uint32)`
    /// returns exactly this stream).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.generate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `next_uint64` for MT19937: two 32-bit draws, the first one high.
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        (hi << 32) | u64::from(self.next_u32())
    }

    /// A double in [0, 1) with 53 random bits, as `random_sample()` returns it.
    pub fn next_f64(&mut self) -> f64 {
        let a = u64::from(self.next_u32() >> 5);
        let b = u64::from(self.next_u32() >> 6);
        (a as f64 * 67_108_864.0 + b as f64) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in [0, max] by numpy's masked rejection (`random_interval`): draw,
    /// mask with the smallest all-ones value covering `max`, retry while above `max`. Uses 32-bit
    /// draws when `max` fits in 32 bits, 64-bit draws otherwise.
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `np.random.shuffle` of a one-dimensional array: Fisher-Yates from the end, swapping
    /// element i with element `interval(i)` for i = n-1 down to 1.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values below were produced by numpy 2.4.6 (`/work/main/.venv/bin/python`).

    /// The next `n` 32-bit outputs.
    fn u32s(mt: &mut Mt19937, n: usize) -> Vec<u32> {
        (0..n).map(|_| mt.next_u32()).collect()
    }

    #[test]
    fn seed_sets_numpy_state() {
        // np.random.RandomState(0).get_state()[1][:4]
        let mt = Mt19937::new(0);
        assert_eq!(&mt.key[..4], &[0, 1, 1_812_433_255, 1_900_727_105]);
    }

    #[test]
    fn u32_stream_matches_numpy() {
        // np.random.RandomState(s).randint(0, 2**32, size=n, dtype=np.uint32)
        let mut mt = Mt19937::new(0);
        let got = u32s(&mut mt, 5);
        assert_eq!(
            got,
            [
                2_357_136_044,
                2_546_248_239,
                3_071_714_933,
                3_626_093_760,
                2_588_848_963
            ]
        );
        let mut mt = Mt19937::new(u32::MAX);
        let got = u32s(&mut mt, 3);
        assert_eq!(got, [419_326_371, 479_346_978, 3_918_654_476]);
        // Crosses a twist boundary (word 624): last three of 1000 draws with seed 5.
        let mut mt = Mt19937::new(5);
        let got = u32s(&mut mt, 1000);
        assert_eq!(&got[997..], &[2_225_786_747, 2_507_965_046, 3_298_208_229]);
    }

    #[test]
    fn array_seed_matches_numpy() {
        // np.random.RandomState([1, 2, 3]).randint(0, 2**32, size=3, dtype=np.uint32)
        let mut mt = Mt19937::from_words(&[1, 2, 3]);
        let got = u32s(&mut mt, 3);
        assert_eq!(got, [2_619_334_238, 1_552_691_353, 3_808_334_787]);
        let mut mt = Mt19937::from_words(&[0xdead_beef, 0x1234_5678]);
        let got = u32s(&mut mt, 3);
        assert_eq!(got, [1_398_177_998, 2_330_851_755, 3_500_573_768]);
    }

    #[test]
    fn random_sample_matches_numpy() {
        // np.random.RandomState(123).random_sample(3).tolist()
        let mut mt = Mt19937::new(123);
        let got: Vec<f64> = (0..3).map(|_| mt.next_f64()).collect();
        assert_eq!(
            got,
            [0.6964691855978616, 0.28613933495037946, 0.2268514535642031]
        );
    }

    #[test]
    fn shuffle_matches_numpy() {
        // np.random.seed(0); a = np.arange(10); np.random.shuffle(a)
        let mut mt = Mt19937::new(0);
        let mut a: Vec<u32> = (0..10).collect();
        mt.shuffle(&mut a);
        assert_eq!(a, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
        // np.random.seed(42); a = np.arange(1000); np.random.shuffle(a); a[:8], a[-4:]
        let mut mt = Mt19937::new(42);
        let mut a: Vec<u32> = (0..1000).collect();
        mt.shuffle(&mut a);
        assert_eq!(&a[..8], &[521, 737, 740, 660, 411, 678, 626, 513]);
        assert_eq!(&a[996..], &[270, 860, 435, 102]);
        // The stream continues where the shuffle left it: np.random.seed(7); shuffle(arange(3));
        // np.random.randint(0, 2**32, size=2, dtype=np.uint32)
        let mut mt = Mt19937::new(7);
        let mut a = [0u8, 1, 2];
        mt.shuffle(&mut a);
        assert_eq!(a, [2, 1, 0]);
        assert_eq!(
            [mt.next_u32(), mt.next_u32()],
            [1_369_975_286, 1_882_953_283]
        );
    }

    #[test]
    fn interval_stays_in_range() {
        let mut mt = Mt19937::new(1);
        for max in [1u64, 2, 3, 7, 100, u64::from(u32::MAX), 1 << 40] {
            for _ in 0..200 {
                assert!(mt.interval(max) <= max);
            }
        }
        assert_eq!(mt.interval(0), 0);
    }
}
