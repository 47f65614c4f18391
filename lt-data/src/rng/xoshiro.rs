//! xoshiro256** (Blackman and Vigna 2018), the engine of the mixup stream, seeded by four
//! [`SplitMix64`] outputs as its authors recommend.

use super::{Engine, SplitMix64};

/// The xoshiro256** engine: 256 bits of state, identical output on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// The engine whose state is the first four outputs of SplitMix64 started at `seed`.
    pub fn seeded(seed: u64) -> Self {
        let mut sm = SplitMix64::from_state(seed);
        Xoshiro256 {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }
}

impl Engine for Xoshiro256 {
    fn next_u64(&mut self) -> u64 {
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
}
