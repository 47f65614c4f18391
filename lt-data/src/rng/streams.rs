//! The named streams: one function per purpose, deriving its generator from the seeds exactly
//! as the code that used it always has, so every stream keeps its values. A new purpose gets
//! a new function here (and, for a keyed stream, a new stream id), never a reused one.

use super::numpy::Mt19937;
use super::splitmix::{mix64, GOLDEN};
use super::{Rng, Xoshiro256};

/// Stream id of the samplers' epoch orders (keeps them apart from augmentation draws).
const SAMPLER: u64 = 0x5a4d_504c;
/// Stream id of the loader's per-sample augmentation draws.
const AUGMENT: u64 = 0x4155_4721;
/// Stream id of the shifted test splits' selections (`test_shift`).
const TEST_SHIFT: u64 = 0x5453_4654;

/// `split::select` with `Compat::Native`: the images kept of class `class`. One stream per
/// (seed, class), so changing one class's count never changes another class's selection.
pub fn split_class(seed: u64, class: u64) -> Rng {
    Rng::from_state(mix64(
        mix64(seed) ^ class.wrapping_add(1).wrapping_mul(GOLDEN),
    ))
}

/// `test_shift::select` with `Compat::Native`: the test images of class `class` a shifted test
/// split keeps. Apart from the training split's stream, and one permutation per (seed, class)
/// for every shift, so each split keeps a prefix of it: a class's images in a split are among
/// its images in any split that keeps more of that class.
pub fn split_test_class(seed: u64, class: u64) -> Rng {
    Rng::keyed(&[seed, class, TEST_SHIFT])
}

/// `split::select` with `Compat::Ldam`: numpy's `np.random.seed(seed)`, shuffled class after
/// class in label order, as LDAM-DRW carves CIFAR-LT.
pub fn split_numpy(seed: u32) -> Mt19937 {
    Mt19937::new(seed)
}

/// A sampler's order for `epoch` (`sampler::InstanceBalanced`, `sampler::ClassWeighted`).
pub fn sampler_epoch(seed: u64, epoch: u64) -> Rng {
    Rng::keyed(&[seed, epoch, SAMPLER])
}

/// The loader's augmentation draws for the sample at `position` of `epoch`: independent of
/// the worker that decodes it, so any thread count gives the same batches.
pub fn augment_sample(seed: u64, epoch: u64, position: usize) -> Rng {
    Rng::keyed(&[seed, epoch, position as u64, AUGMENT])
}

/// Mixup's `lam` and permutations for `epoch` (0-based) of training stage `stage`, drawn
/// batch after batch; recreated at each epoch start, so a resumed run draws the same.
pub fn mixup_epoch(seed: u64, stage: u32, epoch: u64) -> Rng<Xoshiro256> {
    let seed = seed ^ (u64::from(stage) << 40);
    Rng::from_engine(Xoshiro256::seeded(
        seed ^ epoch.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    ))
}

/// The seed handed to `tch::manual_seed` at the start of `epoch` (0-based) of stage `stage`
/// (libtorch's own draws): non-negative, and the same for a resumed run.
pub fn torch_epoch_seed(seed: u64, stage: u32, epoch: u64) -> i64 {
    let mut r = Rng::from_engine(Xoshiro256::seeded(
        seed ^ (u64::from(stage) << 48) ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    (r.next_u64() >> 2) as i64
}
