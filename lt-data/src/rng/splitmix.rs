//! SplitMix64 (Steele, Lea and Flood 2014): tiny, fast and well mixed, the engine of every
//! dataset-side stream and the seeder of [`super::Xoshiro256`]. The project's one copy.

use super::Engine;

/// The golden-ratio increment SplitMix64 adds to its state at each step.
pub(crate) const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function (a strong 64-bit mixer), also used to hash seeds into states.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The SplitMix64 engine: a 64-bit counter stepped by [`GOLDEN`] and mixed by [`mix64`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The engine whose counter starts at `state` (the first output is `mix64(state + GOLDEN)`).
    pub fn from_state(state: u64) -> Self {
        SplitMix64 { state }
    }
}

impl Engine for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }
}
