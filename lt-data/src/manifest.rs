//! `manifest.json`: what a built dataset is (classes, counts, how it was carved, checksums).
//! Written last, atomically: a dataset directory without it is not a dataset.

use crate::augment::Pipeline;
use crate::error::{Error, Result};
use crate::recipe::{Group, GroupRule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE: &str = "manifest.json";

/// One split file of the dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// File name, relative to the dataset directory.
    pub file: String,
    pub total: usize,
    pub counts: Vec<u32>,
    /// CRC-32 of the file body, as stored in its header (hex).
    pub checksum: String,
    /// "raw", "jpeg" or "png".
    pub storage: String,
    /// Height, width, channels for raw splits.
    #[serde(default)]
    pub shape: Option<[u32; 3]>,
}

/// An input the builder skipped with `--skip-bad`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub split: String,
    pub path: String,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub created_by: String,
    pub dataset: String,
    pub source_dir: String,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    /// Profile used to carve the training split; `None` when an official list was used as is.
    pub profile: Option<String>,
    /// Requested imbalance factor (`None`: the source's own distribution).
    pub imbalance: Option<f64>,
    pub seed: u64,
    /// "native" or "ldam" (numpy-identical selection).
    pub compat: String,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The augmentation pipeline the trainer applies (`"cifar"` or `"imagenet"` on disk).
    pub augment: Pipeline,
    pub model: String,
    pub group_rule: GroupRule,
    /// Many/medium/few group of every class.
    pub groups: Vec<Group>,
    pub splits: BTreeMap<String, SplitInfo>,
    #[serde(default)]
    pub coarse_of_class: Option<Vec<u32>>,
    #[serde(default)]
    pub coarse_names: Option<Vec<String>>,
    /// CRC-32 (hex) of every source file read.
    pub source_checksums: BTreeMap<String, String>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Listed images not found under the source directory and left out with `--skip-missing`,
    /// per split (splits that missed none are absent); `missing.txt` in the dataset lists them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub missing_skipped: BTreeMap<String, usize>,
    /// The longer side image sources were shrunk to at build time (`--max-side`, or the recipe's);
    /// absent when they were not. `lt-train predict` repeats it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_side: Option<u32>,
    /// With `profile = "balanced"`: the long-tailed split (profile, imbalance, total) whose
    /// balanced reference the training split is, its images per class and those left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balanced_reference: Option<crate::split::BalancedReference>,
}

impl Manifest {
    /// Reads `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::format(&path, format!("not a dataset manifest: {e}")))
    }

    /// Writes `dir/manifest.json` through a temporary file.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(&path, text.as_bytes())
    }

    pub fn split(&self, name: &str) -> Option<&SplitInfo> {
        self.splits.get(name)
    }

    /// Path of split `name` inside `dir`.
    pub fn split_path(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let s = self.split(name).ok_or_else(|| {
            Error::format(dir.join(FILE), format!("dataset has no '{name}' split"))
        })?;
        Ok(dir.join(&s.file))
    }

    /// Training counts per class.
    pub fn train_counts(&self) -> &[u32] {
        self.split("train")
            .map(|s| s.counts.as_slice())
            .unwrap_or(&[])
    }
}

/// Writes `bytes` to `path` via a synced temporary sibling and a rename, so `path` is always
/// either the old content or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = crate::format::temp_path(path);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
