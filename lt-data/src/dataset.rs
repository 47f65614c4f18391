//! A dataset directory opened as a whole: its manifest and every split it lists, each split's
//! header checked field by field against its manifest entry, the splits against each other,
//! and the manifest against itself. `verify`, `inspect` and the trainer all open datasets
//! here, so none of them accepts a split whose header disagrees with its manifest.

use crate::augment::Pipeline;
use crate::error::{Error, Result};
use crate::format::{Encoding, Layout, Reader};
use crate::manifest::{self, Manifest, SplitInfo};
use crate::test_shift::TestShift;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Smallest shorter side the `imagenet` augmentation takes from a raw split: it crops 224x224,
/// so smaller images would be upscaled more than twice (a 28x28 image 8 times).
pub const IMAGENET_MIN_SIDE: u32 = 112;

/// A checked dataset directory.
pub struct Dataset {
    pub dir: PathBuf,
    pub manifest: Manifest,
    splits: BTreeMap<String, Arc<Reader>>,
}

impl Dataset {
    /// Opens `dir/manifest.json` and every split it lists, and checks that they agree.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = Manifest::load(dir)?;
        check_manifest(&manifest, &dir.join(manifest::FILE))?;
        let mut splits = BTreeMap::new();
        for (name, info) in &manifest.splits {
            let reader = Reader::open(&manifest.split_path(dir, name)?)?;
            check_split(&reader, info, &manifest)?;
            splits.insert(name.clone(), Arc::new(reader));
        }
        check_across(&splits)?;
        check_shifted(&manifest, &dir.join(manifest::FILE))?;
        check_augment(&manifest, &splits, &dir.join(manifest::FILE))?;
        Ok(Dataset {
            dir: dir.to_path_buf(),
            manifest,
            splits,
        })
    }

    /// The split called `name`.
    pub fn split(&self, name: &str) -> Result<&Arc<Reader>> {
        self.splits.get(name).ok_or_else(|| {
            Error::format(
                self.dir.join(manifest::FILE),
                format!(
                    "dataset has no '{name}' split (it has {})",
                    self.splits.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// Recomputes every split's checksum; returns the number of samples checked.
    pub fn verify_checksums(&self) -> Result<usize> {
        let mut n = 0;
        for r in self.splits.values() {
            r.verify_checksum()?;
            n += r.len();
        }
        Ok(n)
    }
}

/// The manifest on its own: classes, normalisation, splits present (the augmentation's name
/// was checked when the manifest was parsed).
fn check_manifest(m: &Manifest, path: &Path) -> Result<()> {
    let bad = |msg: String| Err(Error::format(path, msg));
    let k = m.num_classes;
    if k == 0 {
        return bad("num_classes is 0".into());
    }
    if m.class_names.len() != k || m.groups.len() != k {
        return bad(format!(
            "{} class names and {} groups for {k} classes",
            m.class_names.len(),
            m.groups.len()
        ));
    }
    if m.coarse_of_class.as_ref().is_some_and(|c| c.len() != k) {
        return bad(format!("coarse_of_class does not cover the {k} classes"));
    }
    if !m.splits.contains_key("train") {
        return bad("no train split listed".into());
    }
    if m.mean.len() != m.std.len() || !matches!(m.mean.len(), 1 | 3) {
        return bad(format!(
            "mean has {} values and std {}; both need 1 or 3",
            m.mean.len(),
            m.std.len()
        ));
    }
    if let Some(s) = m.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return bad(format!(
            "std {s} is not a positive number (images are divided by it)"
        ));
    }
    if let Some(v) = m.mean.iter().find(|v| !v.is_finite()) {
        return bad(format!("mean {v} is not a finite number"));
    }
    Ok(())
}

/// One split's header against its manifest entry.
fn check_split(r: &Reader, info: &SplitInfo, m: &Manifest) -> Result<()> {
    let bad = |msg: String| Err(Error::format(r.path(), msg));
    if r.num_classes() != m.num_classes {
        return bad(format!(
            "header says {} classes, the manifest {}",
            r.num_classes(),
            m.num_classes
        ));
    }
    if r.len() != info.total || r.counts() != info.counts.as_slice() {
        return bad("sample counts differ from the manifest".into());
    }
    let (storage, shape) = describe(r.layout());
    if storage != info.storage || shape != info.shape {
        return bad(format!(
            "header says {}, the manifest {}",
            show(storage, shape),
            show(&info.storage, info.shape)
        ));
    }
    if format!("{:08x}", r.checksum()) != info.checksum {
        return bad(format!(
            "checksum {:08x} differs from the manifest's {}",
            r.checksum(),
            info.checksum
        ));
    }
    if let (Some([_, _, c]), n) = (shape, m.mean.len()) {
        if !matches!(c, 1 | 3) || (n == 3 && c != 3) {
            return bad(format!(
                "{c}-channel images with {n}-channel normalisation in the manifest"
            ));
        }
    }
    Ok(())
}

/// Storage name and raw shape of a layout, as the manifest writes them.
pub fn describe(layout: Layout) -> (&'static str, Option<[u32; 3]>) {
    match layout {
        Layout::Raw {
            height,
            width,
            channels,
        } => ("raw", Some([height, width, channels])),
        Layout::Encoded(Encoding::Jpeg) => ("jpeg", None),
        Layout::Encoded(Encoding::Png) => ("png", None),
    }
}

fn show(storage: &str, shape: Option<[u32; 3]>) -> String {
    match shape {
        Some([h, w, c]) => format!("{storage} {h}x{w}x{c}"),
        None => storage.to_string(),
    }
}

/// Every split has the training split's storage and, for raw splits, its shape: a model
/// trained on 28x28 images is not evaluated on 32x32 ones.
fn check_across(splits: &BTreeMap<String, Arc<Reader>>) -> Result<()> {
    let train = &splits["train"];
    let want = describe(train.layout());
    for (name, r) in splits.iter().filter(|(n, _)| *n != "train") {
        let got = describe(r.layout());
        let raw_mismatch = want.0 == "raw" || got.0 == "raw";
        if raw_mismatch && got != want {
            return Err(Error::format(
                r.path(),
                format!(
                    "{name} split holds {}, the train split {}",
                    show(got.0, got.1),
                    show(want.0, want.1)
                ),
            ));
        }
    }
    Ok(())
}

/// Every shifted test split (`test-fwd-IF`, `test-bwd-IF`, see `test_shift`) holds, class by
/// class, the counts its name promises of the balanced test split.
fn check_shifted(m: &Manifest, path: &Path) -> Result<()> {
    for (name, info) in &m.splits {
        let Some(shift) = TestShift::from_name(name) else {
            continue;
        };
        let test = m.split("test").ok_or_else(|| {
            Error::format(
                path,
                format!("split '{name}' is carved from the test split, which is not listed"),
            )
        })?;
        let test_counts: Vec<usize> = test.counts.iter().map(|&n| n as usize).collect();
        let want = shift
            .counts(&test_counts)
            .map_err(|e| Error::format(path, format!("split '{name}': {e}")))?;
        let got = info.counts.iter().map(|&n| n as usize);
        if let Some((c, (g, w))) = got.zip(&want).enumerate().find(|(_, (g, w))| g != *w) {
            return Err(Error::format(
                path,
                format!("split '{name}' holds {g} images of class {c}; its profile over the test split gives {w}"),
            ));
        }
    }
    Ok(())
}

/// The manifest's augmentation suits the stored images.
fn check_augment(m: &Manifest, splits: &BTreeMap<String, Arc<Reader>>, path: &Path) -> Result<()> {
    if let (Some([h, w, _]), Pipeline::ImageNet) = (describe(splits["train"].layout()).1, m.augment)
    {
        if h.min(w) < IMAGENET_MIN_SIDE {
            return Err(Error::format(
                path,
                format!(
                    "augment 'imagenet' crops 224x224 but the images are {h}x{w} (upscaled {:.0}x); small raw images use augment 'cifar'",
                    224.0 / h.min(w) as f64
                ),
            ));
        }
    }
    Ok(())
}
