//! Long-tailed split generation: how many training images each class keeps (the profile),
//! and which ones (the selection).
//!
//! Counts follow the conventions papers report results under, so that a CIFAR-10-LT built
//! here has the same per-class sizes as the one in LDAM-DRW, MiSLAS, BBN and their successors.
//! Selection is either our own per-class-independent shuffle (`Compat::Native`), or exactly
//! the indices numpy's legacy generator picks in LDAM-DRW's `IMBALANCECIFAR10`
//! (`Compat::Ldam`), so results can be compared image for image.

use crate::error::{Error, Result};
use crate::rng::{streams, Rng};
use std::fmt;
use std::str::FromStr;

/// Shape of the per-class training-set sizes, from the head class (index 0) to the tail.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Exponential decay, LDAM-DRW's `get_img_num_per_cls(imb_type='exp')` (Cao et al.,
    /// NeurIPS 2019; also used by MiSLAS, BBN, RIDE...): n_c = int(n_max * (1/IF)^(c/(K-1))).
    Exp,
    /// Two levels, LDAM-DRW's `imb_type='step'` with mu = 0.5 (as in Buda et al. 2018): the
    /// first floor(K/2) classes keep n_max, the others int(n_max * (1/IF)).
    Step,
    /// Power law (Zipf/Pareto shaped, like ImageNet-LT's and iNaturalist's class sizes), our own
    /// convention for custom trees: n_c = floor(n_max * (c+1)^(-a)) with a = ln(IF)/ln(K), so the
    /// first class keeps n_max and the last n_max/IF.
    Pareto,
    /// The balanced reference of a long-tailed split, for relative accuracy (Zhang et al., "Deep
    /// Long-Tailed Learning: A Survey"): as many images in all as the long-tailed split at the
    /// same imbalance factor (N, the sum of its counts), n = floor(N / K) in every class; the
    /// N - nK images left over are not used. See [`balanced_reference`].
    Balanced,
}

impl Profile {
    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Exp => "exp",
            Profile::Step => "step",
            Profile::Pareto => "pareto",
            Profile::Balanced => "balanced",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Profile {
    /// Every profile's name, as `--profile` takes it.
    pub const NAMES: [&'static str; 4] = ["exp", "step", "pareto", "balanced"];
}

impl FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "exp" => Ok(Profile::Exp),
            "step" => Ok(Profile::Step),
            "pareto" => Ok(Profile::Pareto),
            "balanced" => Ok(Profile::Balanced),
            _ => Err(Error::invalid(format!(
                "unknown profile '{s}' (valid profiles: {})",
                Profile::NAMES.join(", ")
            ))),
        }
    }
}

/// Target number of training images per class for `profile` and imbalance factor
/// `imbalance` (IF = n_max / n_min), where `available[c]` is how many images class c has.
///
/// n_max is the largest class. Each count is capped at `available[c]`, since custom trees may
/// hold fewer images than the profile asks for. Floats are evaluated in the same order as
/// LDAM-DRW's Python, so `exp` matches it exactly (CIFAR-10, IF 100:
/// [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]). A single class keeps n_max.
/// `Balanced`: n = floor(N / K) in every class, N the `exp` split's total
/// ([`balanced_reference`]).
pub fn class_counts(profile: Profile, available: &[usize], imbalance: f64) -> Result<Vec<usize>> {
    let counts = profile_counts(profile, available, imbalance)?;
    let n_max = available.iter().copied().max().unwrap_or(0);
    no_empty_class(&counts, available, imbalance, n_max)?;
    Ok(counts)
}

/// [`class_counts`] without its refusal of classes left empty: the caller decides what an
/// empty class means (a test split shifted by `test_shift` words it for its own flag).
/// `Balanced` gives the counts of [`balanced_reference`] of the `exp` profile.
pub fn profile_counts(profile: Profile, available: &[usize], imbalance: f64) -> Result<Vec<usize>> {
    if profile == Profile::Balanced {
        let r = balanced_reference(Profile::Exp, available, imbalance)?;
        return Ok(vec![r.per_class; available.len()]);
    }
    shaped_counts(profile, available, imbalance)
}

/// The counts of a long-tailed profile (`Balanced` reads as `exp`, the long-tailed split it
/// is the reference of unless told otherwise), each capped at what its class has.
fn shaped_counts(profile: Profile, available: &[usize], imbalance: f64) -> Result<Vec<usize>> {
    if !imbalance.is_finite() || imbalance < 1.0 {
        return Err(Error::invalid(format!(
            "imbalance factor must be a finite number >= 1 (max/min class size), got {imbalance}"
        )));
    }
    let k = available.len();
    let n_max =
        available.iter().copied().max().ok_or_else(|| {
            Error::invalid("cannot compute class counts: the source has no classes")
        })?;
    if n_max == 0 {
        return Err(Error::invalid(
            "cannot compute class counts: every class is empty",
        ));
    }
    if k == 1 {
        return Ok(vec![n_max]);
    }
    let max = n_max as f64;
    // LDAM passes imb_factor = 1/IF; 1.0 / 100.0 is the same double as its literal 0.01.
    let ratio = 1.0 / imbalance;
    let counts = (0..k).map(|c| match profile {
        // int(img_max * (imb_factor ** (cls_idx / (cls_num - 1.0))))
        Profile::Exp | Profile::Balanced => {
            (max * ratio.powf(c as f64 / (k as f64 - 1.0))) as usize
        }
        // int(img_max) for the head half, int(img_max * imb_factor) for the rest.
        Profile::Step if c < k / 2 => n_max,
        Profile::Step => (max * ratio) as usize,
        Profile::Pareto => {
            let a = imbalance.ln() / (k as f64).ln();
            // The relative nudge keeps exact values (e.g. n_max/IF for the last class) from
            // flooring one below through rounding in powf.
            (max * ((c + 1) as f64).powf(-a) * (1.0 + 1e-9)).floor() as usize
        }
    });
    Ok(counts
        .zip(available)
        .map(|(n, &avail)| n.min(avail))
        .collect())
}

/// What a balanced split is the reference of, as the manifest records it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BalancedReference {
    /// The long-tailed profile whose total it keeps (`exp` for every recipe).
    pub profile: Profile,
    /// The imbalance factor of that long-tailed split.
    pub imbalance: f64,
    /// N: the images of the long-tailed split.
    pub long_tailed_total: usize,
    /// n = floor(N / K): the images of every class.
    pub per_class: usize,
    /// N - nK: the images the balanced split has fewer than the long-tailed one.
    pub left_out: usize,
}

/// The balanced reference of the `reference` split at `imbalance` (Zhang et al.'s upper
/// reference for relative accuracy; `Balanced` reads as `exp`): N = the sum of that split's
/// counts ([`class_counts`], so a long-tailed split that cannot be built has no reference), n =
/// floor(N / K) images a class, N - nK left out. Refuses a class with fewer than n images, which
/// would leave the split neither balanced nor of the same size.
pub fn balanced_reference(
    reference: Profile,
    available: &[usize],
    imbalance: f64,
) -> Result<BalancedReference> {
    let reference = match reference {
        Profile::Balanced => Profile::Exp,
        p => p,
    };
    let total: usize = class_counts(reference, available, imbalance)?.iter().sum();
    let k = available.len();
    let n = total / k;
    if let Some(c) = available.iter().position(|&a| a < n) {
        return Err(Error::invalid(format!(
            "--profile balanced: class {c} has {} training images, fewer than the {n} every class needs (the {reference} split at imbalance {imbalance} holds {total} images: {n} a class over {k} classes)",
            available[c]
        )));
    }
    Ok(BalancedReference {
        profile: reference,
        imbalance,
        long_tailed_total: total,
        per_class: n,
        left_out: total - n * k,
    })
}

/// A profile that leaves a class without training images is a request that cannot be met.
fn no_empty_class(
    counts: &[usize],
    available: &[usize],
    imbalance: f64,
    n_max: usize,
) -> Result<()> {
    if let Some(c) = available.iter().position(|&a| a == 0) {
        return Err(Error::invalid(format!(
            "class {c} has no training images in the source"
        )));
    }
    let empty: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] == 0).collect();
    if empty.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "--imbalance {imbalance} leaves {} of {} classes (from class {}) with no training image; with {n_max} images in the largest class the imbalance factor can be at most {n_max}",
        empty.len(),
        counts.len(),
        empty[0]
    )))
}

/// How images are picked inside a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    /// Our generator: a separate SplitMix64 stream per (seed, class)
    /// ([`streams::split_class`]), so changing one class's count never changes another class's
    /// selection, and a smaller count keeps a subset of a larger one (partial Fisher-Yates
    /// keeps a prefix).
    Native,
    /// numpy's legacy generator as LDAM-DRW uses it: `np.random.seed(seed)` once, then per class
    /// in label order `idx = np.where(labels == c)[0]; np.random.shuffle(idx); idx[:n_c]`.
    Ldam,
}

/// Indices into `labels` of the images kept for the training split: class 0's first, then
/// class 1's, and so on; inside a class in the order the shuffle left them (for `Ldam`
/// that is exactly the order of LDAM-DRW's `idx[:n_c]`).
pub fn select(
    labels: &[u32],
    num_classes: usize,
    counts: &[usize],
    seed: u64,
    compat: Compat,
) -> Result<Vec<usize>> {
    select_with(
        labels,
        num_classes,
        counts,
        seed,
        compat,
        streams::split_class,
    )
}

/// [`select`], with `Compat::Native` drawing class c's images from `stream(seed, c)`: each
/// purpose of a selection has its own stream (`streams`), the training split
/// `streams::split_class`. `Compat::Ldam` ignores `stream` (numpy's generator is the point).
pub fn select_with(
    labels: &[u32],
    num_classes: usize,
    counts: &[usize],
    seed: u64,
    compat: Compat,
    stream: fn(u64, u64) -> Rng,
) -> Result<Vec<usize>> {
    let by_class = group_by_class(labels, num_classes, counts)?;
    let mut kept = Vec::with_capacity(counts.iter().sum());
    match compat {
        Compat::Ldam => {
            let seed = u32::try_from(seed).map_err(|_| {
                Error::invalid(format!(
                    "--compat ldam needs a seed in 0..=4294967295 (numpy's range), got {seed}"
                ))
            })?;
            let mut mt = streams::split_numpy(seed);
            for (mut idx, &n) in by_class.into_iter().zip(counts) {
                mt.shuffle(&mut idx);
                kept.extend_from_slice(&idx[..n]);
            }
        }
        Compat::Native => {
            for (c, (mut idx, &n)) in by_class.into_iter().zip(counts).enumerate() {
                let mut rng = stream(seed, c as u64);
                let len = idx.len();
                for i in 0..n {
                    let j = i + rng.below_lemire((len - i) as u64) as usize;
                    idx.swap(i, j);
                }
                kept.extend_from_slice(&idx[..n]);
            }
        }
    }
    Ok(kept)
}

/// Indices of each class's images, in label-file order; refuses labels out of range and
/// counts a class cannot meet.
fn group_by_class(labels: &[u32], num_classes: usize, counts: &[usize]) -> Result<Vec<Vec<usize>>> {
    if counts.len() != num_classes {
        return Err(Error::invalid(format!(
            "{} class counts given for {num_classes} classes",
            counts.len()
        )));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &label) in labels.iter().enumerate() {
        let class = by_class.get_mut(label as usize).ok_or_else(|| {
            Error::invalid(format!(
                "label {label} of image {i} is out of range for {num_classes} classes"
            ))
        })?;
        class.push(i);
    }
    for (c, (idx, &n)) in by_class.iter().zip(counts).enumerate() {
        if n > idx.len() {
            return Err(Error::invalid(format!(
                "class {c} has {} images, cannot keep {n}",
                idx.len()
            )));
        }
    }
    Ok(by_class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_counts_match_ldam() {
        let c = class_counts(Profile::Exp, &[5000; 10], 100.0).unwrap();
        assert_eq!(c, [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]);
        assert_eq!(c.iter().sum::<usize>(), 12_406);
        let c = class_counts(Profile::Exp, &[6000; 10], 100.0).unwrap();
        assert_eq!(c, [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
        assert_eq!(c.iter().sum::<usize>(), 14_886);
        // CIFAR-10 IF 50 / 10 and CIFAR-100 IF 100 / 50 / 10, from LDAM's Python formula.
        let c = class_counts(Profile::Exp, &[5000; 10], 50.0).unwrap();
        assert_eq!(c, [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]);
        let c = class_counts(Profile::Exp, &[5000; 10], 10.0).unwrap();
        assert_eq!(c, [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500]);
        for (imb, total, head, tail) in [
            (100.0, 10_847, [500, 477, 455, 434, 415], [6, 5, 5, 5, 5]),
            (
                50.0,
                12_608,
                [500, 480, 462, 444, 426],
                [11, 11, 10, 10, 10],
            ),
            (
                10.0,
                19_573,
                [500, 488, 477, 466, 455],
                [54, 53, 52, 51, 50],
            ),
        ] {
            let c = class_counts(Profile::Exp, &[500; 100], imb).unwrap();
            assert_eq!(c.iter().sum::<usize>(), total, "CIFAR-100 IF {imb}");
            assert_eq!(&c[..5], &head);
            assert_eq!(&c[95..], &tail);
        }
    }

    #[test]
    fn counts_are_capped_and_single_class_keeps_all() {
        let c = class_counts(Profile::Exp, &[5000, 10, 5000, 5000], 10.0).unwrap();
        assert_eq!(c[0], 5000);
        assert_eq!(c[1], 10);
        assert_eq!(class_counts(Profile::Exp, &[42], 100.0).unwrap(), [42]);
        assert_eq!(class_counts(Profile::Pareto, &[42], 100.0).unwrap(), [42]);
        assert_eq!(class_counts(Profile::Step, &[42], 100.0).unwrap(), [42]);
        assert_eq!(class_counts(Profile::Exp, &[7; 5], 1.0).unwrap(), [7; 5]);
    }

    #[test]
    fn step_counts() {
        let c = class_counts(Profile::Step, &[5000; 10], 100.0).unwrap();
        assert_eq!(c, [5000, 5000, 5000, 5000, 5000, 50, 50, 50, 50, 50]);
        let c = class_counts(Profile::Step, &[600; 5], 7.0).unwrap();
        assert_eq!(c, [600, 600, 85, 85, 85]);
    }

    #[test]
    fn pareto_counts() {
        for (k, n_max, imb) in [
            (10, 5000, 100.0),
            (100, 500, 50.0),
            (365, 4980, 996.0),
            (7, 64, 8.0),
        ] {
            let c = class_counts(Profile::Pareto, &vec![n_max; k], imb).unwrap();
            assert_eq!(c[0], n_max);
            let floor_min = (n_max as f64 / imb).floor() as usize;
            assert_eq!(c[k - 1], floor_min, "K {k} IF {imb}: {c:?}");
            assert!(c.windows(2).all(|w| w[0] >= w[1]), "not decreasing: {c:?}");
        }
        // Power law: the count halves whenever the rank doubles by 2^a, here a = 2.
        let c = class_counts(Profile::Pareto, &[1600; 4], 16.0).unwrap();
        assert_eq!(c, [1600, 400, 177, 100]);
    }

    #[test]
    fn balanced_keeps_the_long_tailed_total_floor_per_class() {
        // Fashion-MNIST-LT IF 100: N = 14886 (exp_counts_match_ldam), 14886 // 10 = 1488, 6 left.
        let r = balanced_reference(Profile::Exp, &[6000; 10], 100.0).unwrap();
        assert_eq!(
            r,
            BalancedReference {
                profile: Profile::Exp,
                imbalance: 100.0,
                long_tailed_total: 14_886,
                per_class: 1488,
                left_out: 6
            }
        );
        assert_eq!(
            class_counts(Profile::Balanced, &[6000; 10], 100.0).unwrap(),
            [1488; 10]
        );
        // CIFAR-10-LT IF 100: 12406 // 10 = 1240; the step profile: 5 * 5000 + 5 * 50 = 25250.
        assert_eq!(
            class_counts(Profile::Balanced, &[5000; 10], 100.0).unwrap(),
            [1240; 10]
        );
        let r = balanced_reference(Profile::Step, &[5000; 10], 100.0).unwrap();
        assert_eq!((r.per_class, r.left_out), (2525, 0));
        // A balanced reference of a balanced split is that of exp.
        let r = balanced_reference(Profile::Balanced, &[5000; 10], 100.0).unwrap();
        assert_eq!((r.profile, r.long_tailed_total), (Profile::Exp, 12_406));
    }

    #[test]
    fn balanced_refuses_a_class_short_of_n() {
        // exp over [100, 100, 100, 10] at IF 10: int(100 * 0.1 ** (c / 3.0)) = [100, 46, 21,
        // 10], N = 177, n = 44 > 10.
        let err = class_counts(Profile::Balanced, &[100, 100, 100, 10], 10.0)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--profile balanced: class 3 has 10 training images, fewer than the 44 every class \
             needs (the exp split at imbalance 10 holds 177 images: 44 a class over 4 classes)"
        );
        // The long-tailed split itself must be possible.
        assert!(class_counts(Profile::Balanced, &[10; 4], 100.0).is_err());
    }

    #[test]
    fn invalid_imbalance_is_an_error() {
        for bad in [0.5, 0.0, -3.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = class_counts(Profile::Exp, &[10; 3], bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("imbalance factor must be a finite number >= 1"),
                "{err}"
            );
        }
        assert!(class_counts(Profile::Exp, &[], 10.0).is_err());
        assert!(class_counts(Profile::Exp, &[0, 0], 10.0).is_err());
    }

    #[test]
    fn profile_names_round_trip() {
        for p in [
            Profile::Exp,
            Profile::Step,
            Profile::Pareto,
            Profile::Balanced,
        ] {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        let err = "zipf".parse::<Profile>().unwrap_err().to_string();
        assert!(
            err.contains("zipf") && err.contains("exp, step, pareto, balanced"),
            "{err}"
        );
    }

    /// `classes` classes of `per_class` images each, in a scrambled order like a real label file.
    fn synthetic_labels(per_class: usize, classes: usize) -> Vec<u32> {
        let mut labels: Vec<u32> = (0..per_class * classes)
            .map(|i| (i % classes) as u32)
            .collect();
        let mut rng = streams::split_class(2024, 0);
        for i in (1..labels.len()).rev() {
            let j = rng.below_lemire(i as u64 + 1) as usize;
            labels.swap(i, j);
        }
        labels
    }

    fn class_of(labels: &[u32], kept: &[usize]) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); 10];
        for &i in kept {
            out[labels[i] as usize].push(i);
        }
        out
    }

    #[test]
    fn native_selection_is_deterministic_and_seeded() {
        let labels = synthetic_labels(300, 10);
        let counts = class_counts(Profile::Exp, &[300; 10], 10.0).unwrap();
        let a = select(&labels, 10, &counts, 0, Compat::Native).unwrap();
        let b = select(&labels, 10, &counts, 0, Compat::Native).unwrap();
        let c = select(&labels, 10, &counts, 1, Compat::Native).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), counts.iter().sum::<usize>());
        // Class order, right counts, right labels, no duplicates.
        let mut pos = 0;
        for (class, &n) in counts.iter().enumerate() {
            assert!(a[pos..pos + n].iter().all(|&i| labels[i] as usize == class));
            pos += n;
        }
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len());
        // Not simply the first images of each class.
        let first: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i] == 1)
            .take(counts[1])
            .collect();
        assert_ne!(class_of(&labels, &a)[1], first);
    }

    #[test]
    fn native_classes_are_independent_and_nested() {
        let labels = synthetic_labels(200, 10);
        let mut counts = vec![100; 10];
        let a = class_of(
            &labels,
            &select(&labels, 10, &counts, 9, Compat::Native).unwrap(),
        );
        counts[3] = 20;
        let b = class_of(
            &labels,
            &select(&labels, 10, &counts, 9, Compat::Native).unwrap(),
        );
        for c in 0..10 {
            if c == 3 {
                // A smaller count keeps a prefix of the larger selection.
                assert_eq!(b[3], a[3][..20]);
            } else {
                assert_eq!(a[c], b[c], "class {c} changed");
            }
        }
    }

    #[test]
    fn ldam_selection_matches_numpy_literal() {
        // np.random.seed(0); for c in (0, 1): idx = np.where(l == c)[0]; np.random.shuffle(idx)
        // with l = np.arange(20) % 2, keeping 4 then 3.
        let labels: Vec<u32> = (0..20).map(|i| i % 2).collect();
        let kept = select(&labels, 2, &[4, 3], 0, Compat::Ldam).unwrap();
        assert_eq!(kept, [4, 16, 8, 18, 7, 11, 3]);
    }

    #[test]
    fn bad_selection_requests_are_errors() {
        let labels = [0u32, 1, 1, 2];
        let err = select(&labels, 3, &[1, 3, 1], 0, Compat::Native)
            .unwrap_err()
            .to_string();
        assert!(err.contains("class 1 has 2 images, cannot keep 3"), "{err}");
        let err = select(&labels, 2, &[1, 1], 0, Compat::Native)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("label 2 of image 3 is out of range for 2 classes"),
            "{err}"
        );
        let err = select(&labels, 3, &[1, 1], 0, Compat::Native)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 class counts given for 3 classes"), "{err}");
        let err = select(&labels, 3, &[1, 1, 1], 1 << 32, Compat::Ldam)
            .unwrap_err()
            .to_string();
        assert!(err.contains("seed in 0..=4294967295"), "{err}");
        assert_eq!(
            select(&labels, 3, &[0, 0, 0], 5, Compat::Ldam).unwrap(),
            Vec::<usize>::new()
        );
    }
    /// LDAM-DRW's `IMBALANCECIFAR10.gen_imbalanced_data`, run by numpy itself: counts from
    /// `get_img_num_per_cls('exp')`, then the seeded per-class shuffles. Writes the counts to
    /// `OUT.counts` and the kept indices to `OUT`, both little-endian int64.
    const LDAM_PY: &str = r#"
import sys, numpy as np
labels = np.fromfile(sys.argv[1], dtype='<u4').astype(np.int64)
imb_factor = 1.0 / float(sys.argv[2]); seed = int(sys.argv[3]); out = sys.argv[4]
classes = np.unique(labels)
cls_num = len(classes)
img_max = len(labels) / cls_num
counts = [int(img_max * (imb_factor ** (i / (cls_num - 1.0)))) for i in range(cls_num)]
np.random.seed(seed)
kept = []
for the_class, the_img_num in zip(classes, counts):
    idx = np.where(labels == the_class)[0]
    np.random.shuffle(idx)
    kept.append(idx[:the_img_num])
np.array(counts, dtype='<i8').tofile(out + '.counts')
np.concatenate(kept).astype('<i8').tofile(out)
"#;

    fn read_i64s(path: &std::path::Path) -> Vec<usize> {
        let bytes = std::fs::read(path).unwrap();
        bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect()
    }

    /// Runs LDAM's selection in numpy on `labels` and checks `class_counts` + `select` agree
    /// index for index.
    fn check_against_numpy(name: &str, labels: &[u32], num_classes: usize, imb: f64, seed: u64) {
        let dir = tempfile::tempdir().unwrap();
        let labels_path = dir.path().join("labels.u32");
        let out = dir.path().join("kept.i64");
        let raw: Vec<u8> = labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        std::fs::write(&labels_path, raw).unwrap();
        let status = std::process::Command::new(crate::testutil::numpy_python())
            .arg("-c")
            .arg(LDAM_PY)
            .arg(&labels_path)
            .arg(imb.to_string())
            .arg(seed.to_string())
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "numpy script failed for {name}");
        let want_counts = read_i64s(&out.with_extension("i64.counts"));
        let want = read_i64s(&out);

        let mut available = vec![0; num_classes];
        for &l in labels {
            available[l as usize] += 1;
        }
        let counts = class_counts(Profile::Exp, &available, imb).unwrap();
        assert_eq!(counts, want_counts, "{name}: counts differ from LDAM's");
        let got = select(labels, num_classes, &counts, seed, Compat::Ldam).unwrap();
        assert_eq!(got.len(), want.len(), "{name}: sizes differ");
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!("{name}: position {i}: ours {} numpy {}", got[i], want[i]);
        }
    }

    #[test]
    fn ldam_selection_matches_numpy_on_fashion_mnist() {
        let labels = crate::testutil::fashion_mnist_labels("train-labels-idx1-ubyte.gz");
        assert_eq!(labels.len(), 60_000);
        check_against_numpy("fashion-mnist IF 100 seed 0", &labels, 10, 100.0, 0);
        // A few of numpy's picks kept as literals, so a regression shows even in isolation.
        let counts = class_counts(Profile::Exp, &[6000; 10], 100.0).unwrap();
        let kept = select(&labels, 10, &counts, 0, Compat::Ldam).unwrap();
        assert_eq!(kept.len(), 14_886);
        assert_eq!(&kept[..4], &[43279, 20687, 56899, 5141]);
        assert_eq!(&kept[14_882..], &[57193, 48686, 20046, 6637]);
    }

    #[test]
    fn ldam_selection_matches_numpy_on_synthetic_cifar() {
        let cifar10 = synthetic_labels(5000, 10);
        check_against_numpy("cifar10-like IF 100 seed 0", &cifar10, 10, 100.0, 0);
        check_against_numpy("cifar10-like IF 10 seed 123", &cifar10, 10, 10.0, 123);
        let balanced = synthetic_labels(500, 100);
        check_against_numpy("cifar100-like IF 50 seed 123", &balanced, 100, 50.0, 123);
        check_against_numpy("cifar100-like IF 100 seed 0", &balanced, 100, 100.0, 0);
    }
}
