//! Long-tailed test splits carved from the balanced test split, for the test-agnostic protocol
//! of SADE (Zhang et al., NeurIPS 2022): a model trained on a long-tailed set is evaluated on
//! test sets whose class distribution is forward long-tailed (class 0 most frequent, as in
//! training), uniform (the `test` split itself) or backward long-tailed (reversed).
//!
//! As in the official code for CIFAR-100 (`IMBALANCECIFAR100(train=False, imb_factor=1/IF,
//! reverse=...)`), class c of the forward split keeps int(n * (1/IF)^(c/(K-1))) test images,
//! the training split's `exp` profile over the n test images per class, and the backward split
//! keeps the forward count of class K-1-c. The images are a seeded random choice per class:
//! with `Compat::Ldam` exactly numpy's (`np.random.seed(seed)`, then each class's indices
//! shuffled in label order and the first n_c kept; the official code seeds 0), with
//! `Compat::Native` our own per-class stream (`streams::split_test_class`), the same
//! permutation for every shift, so a split keeps a prefix of it.

use crate::error::{Error, Result};
use crate::rng::streams;
use crate::split::{self, Compat, Profile};
use std::fmt;
use std::str::FromStr;

/// The imbalance factors SADE evaluates CIFAR-100-LT, ImageNet-LT and Places-LT on, both
/// directions: `--test-splits` without values.
pub const DEFAULT_IMBALANCES: [u32; 5] = [2, 5, 10, 25, 50];

/// Which end of the class range a shifted test split favours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Class 0 most frequent, like the training split (SADE's `forward`).
    Forward,
    /// The last class most frequent: the forward counts reversed (SADE's `backward`).
    Backward,
}

impl Direction {
    /// Every direction's name, as `--test-directions` takes it and split names hold it.
    pub const NAMES: [&'static str; 2] = ["fwd", "bwd"];

    /// The name used on the command line and in split names.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "fwd",
            Direction::Backward => "bwd",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Direction {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fwd" => Ok(Direction::Forward),
            "bwd" => Ok(Direction::Backward),
            _ => Err(Error::invalid(format!(
                "unknown test-split direction '{s}' (valid directions: {})",
                Direction::NAMES.join(", ")
            ))),
        }
    }
}

/// One shifted test split: its direction and imbalance factor (largest / smallest class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestShift {
    /// Which end of the class range keeps the most images.
    pub direction: Direction,
    /// Largest class / smallest class, >= 1.
    pub imbalance: u32,
}

impl TestShift {
    /// The split's name in the manifest, `test-fwd-50` or `test-bwd-10`; its file is
    /// `NAME.ltd`.
    pub fn name(&self) -> String {
        format!("test-{}-{}", self.direction, self.imbalance)
    }

    /// The shift a split name stands for, if it is one of ours (exactly as [`TestShift::name`]
    /// writes it).
    pub fn from_name(name: &str) -> Option<TestShift> {
        let (dir, imb) = name.strip_prefix("test-")?.split_once('-')?;
        let shift = TestShift {
            direction: dir.parse().ok()?,
            imbalance: imb.parse().ok()?,
        };
        (shift.imbalance >= 1 && shift.name() == name).then_some(shift)
    }

    /// Images per class of this split, given the test split's `test_counts`, which must all be
    /// equal (the protocol shifts a balanced test set).
    pub fn counts(&self, test_counts: &[usize]) -> Result<Vec<usize>> {
        let n = balanced_size(test_counts)?;
        if self.imbalance < 1 {
            return Err(bad_imbalance(&self.imbalance.to_string()));
        }
        let mut counts = split::profile_counts(Profile::Exp, test_counts, self.imbalance.into())?;
        if self.direction == Direction::Backward {
            counts.reverse();
        }
        let empty = counts.iter().filter(|&&c| c == 0).count();
        if empty > 0 {
            return Err(Error::invalid(format!(
                "--test-splits {}: leaves {empty} of {} classes without a test image; with {n} test images per class the imbalance factor can be at most {n}",
                self.imbalance,
                counts.len()
            )));
        }
        Ok(counts)
    }

    /// Indices into the test split's `labels` of the images this split keeps, class 0's first:
    /// [`TestShift::counts`] of them per class, chosen as the module documentation says.
    pub fn select(
        &self,
        labels: &[u32],
        num_classes: usize,
        seed: u64,
        compat: Compat,
    ) -> Result<Vec<usize>> {
        let mut available = vec![0usize; num_classes];
        for &l in labels {
            // Labels out of range are reported by `select_with`.
            if let Some(a) = available.get_mut(l as usize) {
                *a += 1;
            }
        }
        let counts = self.counts(&available)?;
        split::select_with(
            labels,
            num_classes,
            &counts,
            seed,
            compat,
            streams::split_test_class,
        )
    }
}

/// An imbalance factor as `--test-splits` takes it: a whole number >= 1.
pub fn parse_imbalance(s: &str) -> Result<u32> {
    match s.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad_imbalance(s)),
    }
}

fn bad_imbalance(s: &str) -> Error {
    Error::invalid(format!(
        "--test-splits takes whole imbalance factors >= 1 (SADE's are 2, 5, 10, 25, 50), got '{s}'"
    ))
}

/// Refuses a request naming a split twice or an imbalance factor below 1.
pub fn check_requested(shifts: &[TestShift]) -> Result<()> {
    for (i, s) in shifts.iter().enumerate() {
        if s.imbalance < 1 {
            return Err(bad_imbalance(&s.imbalance.to_string()));
        }
        if shifts[..i].contains(s) {
            return Err(Error::invalid(format!(
                "--test-splits asks for {} twice",
                s.name()
            )));
        }
    }
    Ok(())
}

/// The number of images every class of a balanced test split has.
fn balanced_size(test_counts: &[usize]) -> Result<usize> {
    let Some(&n) = test_counts.first() else {
        return Err(Error::invalid("--test-splits: the dataset has no classes"));
    };
    if n == 0 {
        return Err(Error::invalid(
            "--test-splits: the source has no test image of class 0 (a balanced test split is needed)",
        ));
    }
    if let Some(c) = test_counts.iter().position(|&m| m != n) {
        return Err(Error::invalid(format!(
            "--test-splits needs a balanced test split: class {c} has {} test images, class 0 {n}",
            test_counts[c]
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(direction: Direction, imbalance: u32) -> TestShift {
        TestShift {
            direction,
            imbalance,
        }
    }

    #[test]
    fn forward_counts_are_the_exp_profile_and_backward_reverses_them() {
        // int(1000 * (1/IF)^(c/9)) for Fashion-MNIST's test split, evaluated by Python's
        // floats (as SADE's `get_img_num_per_cls` does), not by this crate.
        let want: [(u32, [usize; 10]); 5] = [
            (2, [1000, 925, 857, 793, 734, 680, 629, 583, 540, 500]),
            (5, [1000, 836, 699, 584, 489, 408, 341, 285, 239, 200]),
            (10, [1000, 774, 599, 464, 359, 278, 215, 166, 129, 100]),
            (25, [1000, 699, 489, 341, 239, 167, 116, 81, 57, 40]),
            (50, [1000, 647, 419, 271, 175, 113, 73, 47, 30, 20]),
        ];
        for (imb, fwd) in want {
            let got = shift(Direction::Forward, imb).counts(&[1000; 10]).unwrap();
            assert_eq!(got, fwd, "forward IF {imb}");
            let mut bwd = fwd;
            bwd.reverse();
            let got = shift(Direction::Backward, imb).counts(&[1000; 10]).unwrap();
            assert_eq!(got, bwd, "backward IF {imb}");
        }
        // CIFAR-100's test split (100 per class), IF 50: SADE's forward50 head and tail.
        let c = shift(Direction::Forward, 50).counts(&[100; 100]).unwrap();
        assert_eq!((c[0], c[1], c[98], c[99]), (100, 96, 2, 2));
        assert_eq!(c.iter().sum::<usize>(), 2486);
        assert_eq!(
            shift(Direction::Backward, 1).counts(&[7; 3]).unwrap(),
            [7; 3]
        );
    }

    #[test]
    fn unbalanced_empty_or_too_steep_requests_are_errors() {
        let err = |s: TestShift, counts: &[usize]| s.counts(counts).unwrap_err().to_string();
        let f = shift(Direction::Forward, 10);
        let e = err(f, &[100, 100, 99]);
        assert!(e.contains("balanced test split: class 2 has 99"), "{e}");
        assert!(err(f, &[]).contains("no classes"));
        assert!(err(f, &[0, 0]).contains("no test image"));
        let e = err(shift(Direction::Backward, 5000), &[1000; 10]);
        assert!(
            e.contains("--test-splits 5000: leaves 2 of 10 classes") && e.contains("at most 1000"),
            "{e}"
        );
        assert!(err(shift(Direction::Forward, 0), &[10; 3]).contains("whole imbalance"));
    }

    #[test]
    fn names_round_trip_and_only_ours_parse() {
        for d in [Direction::Forward, Direction::Backward] {
            assert_eq!(d.name().parse::<Direction>().unwrap(), d);
            for imb in DEFAULT_IMBALANCES {
                let s = shift(d, imb);
                assert_eq!(TestShift::from_name(&s.name()), Some(s));
            }
        }
        assert_eq!(shift(Direction::Backward, 10).name(), "test-bwd-10");
        for other in [
            "test",
            "train",
            "val",
            "test-fwd",
            "test-up-5",
            "test-fwd-05",
            "test-fwd-0",
            "test-fwd-2.5",
            "test-fwd--5",
            "tests-fwd-5",
        ] {
            assert_eq!(TestShift::from_name(other), None, "{other}");
        }
        let e = "up".parse::<Direction>().unwrap_err().to_string();
        assert!(e.contains("'up'") && e.contains("fwd, bwd"), "{e}");
    }

    #[test]
    fn imbalance_values_and_duplicates() {
        assert_eq!(parse_imbalance("25").unwrap(), 25);
        for bad in ["0", "0.5", "-2", "2.5", "x", ""] {
            let e = parse_imbalance(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("got '{bad}'")), "{e}");
        }
        let twice = [shift(Direction::Forward, 5), shift(Direction::Forward, 5)];
        let e = check_requested(&twice).unwrap_err().to_string();
        assert!(e.contains("test-fwd-5 twice"), "{e}");
        check_requested(&[shift(Direction::Forward, 5), shift(Direction::Backward, 5)]).unwrap();
    }

    /// 1000 test images in each of 10 classes, labels in a scrambled order.
    fn test_labels() -> Vec<u32> {
        let mut labels: Vec<u32> = (0..10_000).map(|i| i % 10).collect();
        let mut rng = streams::split_class(77, 0);
        for i in (1..labels.len()).rev() {
            let j = rng.below_lemire(i as u64 + 1) as usize;
            labels.swap(i, j);
        }
        labels
    }

    #[test]
    fn native_selection_is_seeded_nested_and_apart_from_training() {
        let labels = test_labels();
        let f50 = shift(Direction::Forward, 50);
        let a = f50.select(&labels, 10, 3, Compat::Native).unwrap();
        assert_eq!(a, f50.select(&labels, 10, 3, Compat::Native).unwrap());
        assert_ne!(a, f50.select(&labels, 10, 4, Compat::Native).unwrap());
        let counts = f50.counts(&[1000; 10]).unwrap();
        assert_eq!(a.len(), counts.iter().sum::<usize>());
        // Class blocks in order, right labels, no image twice.
        let mut pos = 0;
        for (c, &n) in counts.iter().enumerate() {
            assert!(a[pos..pos + n].iter().all(|&i| labels[i] as usize == c));
            pos += n;
        }
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len());
        // A steeper split keeps a prefix of a milder one, class by class.
        let f2 = shift(Direction::Forward, 2)
            .select(&labels, 10, 3, Compat::Native)
            .unwrap();
        let c2 = shift(Direction::Forward, 2).counts(&[1000; 10]).unwrap();
        let (mut p50, mut p2) = (0, 0);
        for c in 0..10 {
            assert_eq!(a[p50..p50 + counts[c]], f2[p2..p2 + counts[c]], "class {c}");
            p50 += counts[c];
            p2 += c2[c];
        }
        // Not the training split's stream: the same counts drawn from it pick otherwise.
        let train_like = split::select(&labels, 10, &counts, 3, Compat::Native).unwrap();
        assert_ne!(a, train_like);
    }

    /// SADE's shifted CIFAR test set, rebuilt with numpy: counts from the exp profile over
    /// `len(labels) / K` images per class (reversed for backward), then `np.random.seed(seed)`
    /// and, class by class, a shuffle of the class's indices of which the first n_c are kept.
    /// Args: labels file (u32), IF, seed, "fwd"|"bwd", output; writes little-endian int64.
    const SADE_PY: &str = r#"
import sys, numpy as np
labels = np.fromfile(sys.argv[1], dtype='<u4').astype(np.int64)
ratio, seed, backward, out = 1.0 / float(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == 'bwd', sys.argv[5]
k = len(np.unique(labels)); per_class = len(labels) / k
expo = [((k - 1 - c) if backward else c) / (k - 1.0) for c in range(k)]
counts = [int(per_class * ratio ** e) for e in expo]
np.random.seed(seed)
picked = []
for c in range(k):
    order = np.where(labels == c)[0]
    np.random.shuffle(order)
    picked.append(order[:counts[c]])
np.concatenate(picked).astype('<i8').tofile(out)
"#;

    fn sade_numpy(labels: &[u32], s: TestShift, seed: u64) -> Vec<usize> {
        let dir = tempfile::tempdir().unwrap();
        let (lab, out) = (dir.path().join("labels.u32"), dir.path().join("kept.i64"));
        let raw: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        std::fs::write(&lab, raw).unwrap();
        let status = std::process::Command::new(crate::testutil::numpy_python())
            .args(["-c", SADE_PY])
            .arg(&lab)
            .args([
                s.imbalance.to_string(),
                seed.to_string(),
                s.direction.to_string(),
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "numpy script failed for {}", s.name());
        let bytes = std::fs::read(&out).unwrap();
        let kept = bytes.chunks_exact(8);
        kept.map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect()
    }

    #[test]
    fn ldam_selection_is_sades_on_fashion_mnist_test() {
        let labels = crate::testutil::fashion_mnist_labels("t10k-labels-idx1-ubyte.gz");
        assert_eq!(labels.len(), 10_000);
        for (d, imb, seed) in [
            (Direction::Forward, 50, 0),
            (Direction::Backward, 50, 0),
            (Direction::Forward, 2, 0),
            (Direction::Backward, 10, 123),
        ] {
            let s = shift(d, imb);
            let ours = s.select(&labels, 10, seed, Compat::Ldam).unwrap();
            assert_eq!(
                ours,
                sade_numpy(&labels, s, seed),
                "{} seed {seed}",
                s.name()
            );
        }
    }
}
