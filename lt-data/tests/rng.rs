//! Pins a few outputs of every random stream, so a refactor cannot change a value: a resumed
//! run, a rebuilt split and an `--compat ldam` split stay bit-exact.
//!
//! The literals were printed by the code as it stood at commit 5fbf072 (before the streams
//! moved into one `rng` module), with the call of that time written beside each; the numpy ones
//! were also checked against numpy 2.4 (`/work/main/.venv/bin/python`), with the call in the
//! comment. Then: `sampler::Rng` and `split::SplitMix64` were two SplitMix64s, `mixup::Rng` was
//! xoshiro256** in lt-core, `loader::sample_rng` the augmentation stream.

use lt_data::rng::numpy::Mt19937;
use lt_data::rng::{streams, Rng, Xoshiro256};
use lt_data::split::{select, Compat};

#[test]
fn splitmix_draws() {
    // sampler::Rng::new(0).next_u64() x3
    let mut r = Rng::new(0);
    let got = draws(3, || r.next_u64());
    assert_eq!(
        got,
        [
            1_775_316_016_619_902_031,
            7_448_176_806_792_670_476,
            13_196_712_750_574_220_100
        ]
    );
    // sampler::Rng::new(12345).below(10) x8 (multiply-shift)
    let mut r = Rng::new(12345);
    let got = draws(8, || r.below(10));
    assert_eq!(got, [8, 4, 8, 2, 8, 5, 3, 0]);
    // sampler::Rng::new(7): unit() x3, then uniform(-2.0, 3.0) x3
    let mut r = Rng::new(7);
    let got = draws(3, || r.unit());
    assert_eq!(
        got,
        [0.4433250766688186, 0.6650664185845163, 0.1364359162906007]
    );
    let got = draws(3, || r.uniform(-2.0, 3.0));
    assert_eq!(
        got,
        [2.919945091626704, -1.0654389516882312, 1.1351687876738286]
    );
    // sampler::Rng::new(3).shuffle(0..10)
    let mut v: Vec<u32> = (0..10).collect();
    Rng::new(3).shuffle(&mut v);
    assert_eq!(v, [4, 7, 1, 2, 8, 9, 5, 0, 6, 3]);
    // sampler::Rng::keyed(&[1, 2, 3]).next_u64() x2
    let mut r = Rng::keyed(&[1, 2, 3]);
    let got = draws(2, || r.next_u64());
    assert_eq!(got, [10_865_638_874_225_040_967, 5_944_619_840_313_647_570]);
}

#[test]
fn sampler_epoch_stream() {
    // sampler::InstanceBalanced::new(10, 5).epoch_indices(0) and (3): a shuffle of 0..10
    let order = |epoch| {
        let mut v: Vec<u32> = (0..10).collect();
        streams::sampler_epoch(5, epoch).shuffle(&mut v);
        v
    };
    assert_eq!(order(0), [3, 2, 4, 5, 1, 7, 6, 9, 0, 8]);
    assert_eq!(order(3), [4, 2, 5, 3, 9, 6, 0, 7, 1, 8]);
    // Through the samplers themselves (they draw from this stream).
    let mut s = lt_data::sampler::InstanceBalanced::new(10, 5);
    assert_eq!(indices(&mut s, 3), order(3));
    // sampler::class_balanced(labels i % 3 for i in 0..20, 3 classes, seed 9).epoch_indices(1)
    let labels: Vec<u32> = (0..20).map(|i| i % 3).collect();
    let mut s = lt_data::sampler::class_balanced(&labels, 3, 9).unwrap();
    assert_eq!(
        indices(&mut s, 1),
        [6, 16, 14, 19, 2, 4, 2, 7, 5, 8, 8, 13, 19, 15, 7, 5, 7, 16, 1, 12]
    );
}

#[test]
fn augmentation_sample_stream() {
    // loader::sample_rng(seed 11, epoch 2, position 17).next_u64() x2
    let mut r = streams::augment_sample(11, 2, 17);
    let got = draws(2, || r.next_u64());
    assert_eq!(got, [5_787_289_537_232_883_008, 7_281_609_623_221_333_881]);
}

/// Labels `(7 i) % 4` for i in 0..40 (10 images per class, interleaved); keep 10, 5, 3, 1.
fn split_case(seed: u64, compat: Compat) -> Vec<usize> {
    let labels: Vec<u32> = (0..40).map(|i| (i * 7) % 4).collect();
    select(&labels, 4, &[10, 5, 3, 1], seed, compat).unwrap()
}

#[test]
fn split_class_streams() {
    // split::select(.., seed 0 / 2024, Compat::Native): one SplitMix64 stream per (seed, class)
    assert_eq!(
        split_case(0, Compat::Native),
        [24, 28, 20, 4, 32, 8, 36, 12, 16, 0, 11, 3, 39, 19, 27, 38, 34, 26, 13]
    );
    assert_eq!(
        split_case(2024, Compat::Native),
        [12, 16, 8, 28, 0, 32, 36, 4, 24, 20, 27, 39, 11, 15, 7, 26, 38, 2, 21]
    );
}

#[test]
fn numpy_streams() {
    // labels = np.array([(i * 7) % 4 for i in range(40)]); np.random.seed(0); per class c in
    // 0..4: idx = np.where(labels == c)[0]; np.random.shuffle(idx); keep idx[:[10, 5, 3, 1][c]]
    assert_eq!(
        split_case(0, Compat::Ldam),
        [8, 32, 16, 36, 4, 24, 28, 12, 0, 20, 15, 23, 7, 11, 39, 10, 14, 34, 25]
    );
    // np.random.RandomState(0).randint(0, 10, size=5)
    let mut mt = Mt19937::new(0);
    let got = draws(5, || mt.interval(9));
    assert_eq!(got, [5, 0, 3, 3, 7]);
}

/// `n` successive values of `draw`.
fn draws<T>(n: usize, mut draw: impl FnMut() -> T) -> Vec<T> {
    (0..n).map(|_| draw()).collect()
}

/// An epoch of sampler `s` (one place to follow a change of the `Sampler` trait).
fn indices(s: &mut dyn lt_data::sampler::Sampler, epoch: u64) -> Vec<u32> {
    s.epoch_indices(epoch).unwrap()
}

/// mixup::Rng::new(seed) of that time: xoshiro256** seeded by SplitMix64 from `seed` itself.
fn xoshiro(seed: u64) -> Rng<Xoshiro256> {
    Rng::from_engine(Xoshiro256::seeded(seed))
}

#[test]
fn xoshiro_draws() {
    // mixup::Rng::new(42).next_u64() x3
    let mut r = xoshiro(42);
    let got = draws(3, || r.next_u64());
    assert_eq!(
        got,
        [
            1_546_998_764_402_558_742,
            6_990_951_692_964_543_102,
            12_544_586_762_248_559_009
        ]
    );
    // mixup::Rng::new(7): uniform() x3 (then [0, 1), now `unit`), then below(10) x8
    let mut r = xoshiro(7);
    let got = draws(3, || r.unit());
    assert_eq!(
        got,
        [0.7005764821796896, 0.2787512294737843, 0.8396274618764198]
    );
    let got = draws(8, || r.below_mod(10));
    assert_eq!(got, [4, 4, 1, 6, 6, 8, 9, 3]);
    // mixup::Rng::new(1): normal() x2, gamma(0.5), beta(1, 1), beta(0.2, 0.2), permutation(8)
    let mut r = xoshiro(1);
    assert_eq!(
        [r.normal(), r.normal()],
        [-1.5452228371402943, -1.0136476397283942]
    );
    assert_eq!(r.gamma(0.5), 0.16483312319491172);
    assert_eq!(r.beta(1.0, 1.0), 0.0015212174686982023);
    assert_eq!(r.beta(0.2, 0.2), 0.0815334762649044);
    let mut perm: Vec<i64> = (0..8).collect();
    r.shuffle_mod(&mut perm);
    assert_eq!(perm, [2, 6, 5, 3, 0, 4, 7, 1]);
}

#[test]
fn training_streams() {
    // The mixup stream of seed 0, stage 1, epoch 3: mixup::Rng::for_epoch(0 ^ (1 << 40), 3)
    let mut r = streams::mixup_epoch(0, 1, 3);
    assert_eq!(
        [r.next_u64(), r.next_u64()],
        [11_642_841_025_940_097_920, 15_261_551_349_369_078_622]
    );
    // mixup::Rng::for_epoch(5, 0): beta(1, 1), then permutation(6)
    let mut r = streams::mixup_epoch(5, 0, 0);
    assert_eq!(r.beta(1.0, 1.0), 0.3137642161996657);
    let mut perm: Vec<i64> = (0..6).collect();
    r.shuffle_mod(&mut perm);
    assert_eq!(perm, [5, 0, 3, 1, 4, 2]);
    assert_ne!(
        streams::mixup_epoch(42, 0, 0),
        streams::mixup_epoch(42, 0, 1)
    );
    // train::epoch::epoch_seed(seed, stage, epoch) for (0, 1, 0) and (7, 2, 5)
    assert_eq!(streams::torch_epoch_seed(0, 1, 0), 904_527_031_695_686_291);
    assert_eq!(
        streams::torch_epoch_seed(7, 2, 5),
        2_064_916_820_815_373_544
    );
}

#[test]
fn draws_are_reproducible_and_uniform() {
    let mut a = xoshiro(42);
    let mut b = xoshiro(42);
    let va = draws(10, || a.next_u64());
    let vb = draws(10, || b.next_u64());
    assert_eq!(va, vb);
    assert_ne!(xoshiro(43).next_u64(), va[0]);
    let n = 100_000;
    let mut r = xoshiro(7);
    let mean = (0..n).map(|_| r.unit()).sum::<f64>() / n as f64;
    assert!((mean - 0.5).abs() < 0.01, "{mean}");
    let mut r = Rng::new(7);
    let mean = (0..n).map(|_| r.uniform(2.0, 4.0)).sum::<f64>() / n as f64;
    assert!((mean - 3.0).abs() < 0.02, "{mean}");
}

#[test]
fn beta_moments() {
    let mut r = xoshiro(1);
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
fn test_shift_stream() {
    // The shifted test splits' per-class stream (added with `--test-splits`, pinned from its
    // first version): `streams::split_test_class(0, 1).next_u64()` x2, and the native choice of
    // `test-fwd-2` over 10 images of 2 classes (labels 0,1,0,1,...), seed 7.
    use lt_data::test_shift::{Direction, TestShift};
    let mut r = streams::split_test_class(0, 1);
    let got = draws(2, || r.next_u64());
    assert_eq!(got, [15_948_058_740_130_366_897, 5_872_645_753_412_093_306]);
    let labels: Vec<u32> = (0..10).map(|i| i % 2).collect();
    let shift = TestShift {
        direction: Direction::Forward,
        imbalance: 2,
    };
    let kept = shift.select(&labels, 2, 7, Compat::Native).unwrap();
    assert_eq!(kept, [0, 6, 2, 4, 8, 3, 1]);
}
