//! Pins a few outputs of every random stream, so a refactor cannot change a value: a resumed
//! run, a rebuilt split and an `--compat ldam` split stay bit-exact.
//!
//! The literals were printed by the code as it stood at commit 5fbf072 (before the streams
//! moved into one `rng` module), with the calls written beside each; the numpy ones were also
//! checked against numpy 2.4 (`/work/main/.venv/bin/python`), with the call in the comment.

use lt_data::loader::sample_rng;
use lt_data::numpy_rng::Mt19937;
use lt_data::sampler::{class_balanced, InstanceBalanced, Rng, Sampler};
use lt_data::split::{select, Compat};

#[test]
fn splitmix_draws() {
    // sampler::Rng::new(0).next_u64() x3
    let mut r = Rng::new(0);
    let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
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
    let got: Vec<usize> = (0..8).map(|_| r.below(10)).collect();
    assert_eq!(got, [8, 4, 8, 2, 8, 5, 3, 0]);
    // sampler::Rng::new(7): unit() x3, then uniform(-2.0, 3.0) x3
    let mut r = Rng::new(7);
    let got: Vec<f64> = (0..3).map(|_| r.unit()).collect();
    assert_eq!(
        got,
        [0.4433250766688186, 0.6650664185845163, 0.1364359162906007]
    );
    let got: Vec<f64> = (0..3).map(|_| r.uniform(-2.0, 3.0)).collect();
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
    let got: Vec<u64> = (0..2).map(|_| r.next_u64()).collect();
    assert_eq!(got, [10_865_638_874_225_040_967, 5_944_619_840_313_647_570]);
}

#[test]
fn sampler_epoch_stream() {
    // InstanceBalanced::new(10, 5).epoch_indices(0) and (3)
    let mut s = InstanceBalanced::new(10, 5);
    assert_eq!(s.epoch_indices(0), [3, 2, 4, 5, 1, 7, 6, 9, 0, 8]);
    assert_eq!(s.epoch_indices(3), [4, 2, 5, 3, 9, 6, 0, 7, 1, 8]);
    // class_balanced(labels i % 3 for i in 0..20, 3 classes, seed 9).epoch_indices(1)
    let labels: Vec<u32> = (0..20).map(|i| i % 3).collect();
    let mut s = class_balanced(&labels, 3, 9).unwrap();
    assert_eq!(
        s.epoch_indices(1),
        [6, 16, 14, 19, 2, 4, 2, 7, 5, 8, 8, 13, 19, 15, 7, 5, 7, 16, 1, 12]
    );
}

#[test]
fn augmentation_sample_stream() {
    // loader::sample_rng(seed 11, epoch 2, position 17).next_u64() x2
    let mut r = sample_rng(11, 2, 17);
    let got: Vec<u64> = (0..2).map(|_| r.next_u64()).collect();
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
    let got: Vec<u64> = (0..5).map(|_| mt.interval(9)).collect();
    assert_eq!(got, [5, 0, 3, 3, 7]);
}
