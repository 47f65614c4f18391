//! `lt-data inspect` and `lt-data verify`: statistics of a built dataset or a split list, and
//! a full re-check of a dataset's files against their checksums and its manifest.

use crate::error::{Error, Result};
use crate::format::Reader;
use crate::manifest::Manifest;
use crate::recipe::{Group, GroupRule};
use crate::stats::Stats;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What `inspect` reports on a dataset: the training statistics plus the other splits.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub dataset: String,
    #[serde(flatten)]
    pub train: Stats,
    pub class_names: Vec<String>,
    pub groups: Vec<Group>,
    pub profile: Option<String>,
    pub seed: u64,
    pub splits: BTreeMap<String, SplitSummary>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SplitSummary {
    pub total: usize,
    pub counts: Vec<u32>,
    pub storage: String,
}

/// Statistics of the dataset in `dir` (a directory holding `manifest.json`).
pub fn dataset(dir: &Path) -> Result<Report> {
    let m = Manifest::load(dir)?;
    let path = m.split_path(dir, "train")?;
    let train = Reader::open(&path)?;
    if train.counts() != m.train_counts() {
        return Err(Error::format(
            &path,
            "class counts differ from the manifest",
        ));
    }
    let splits = m
        .splits
        .iter()
        .map(|(k, s)| {
            (
                k.clone(),
                SplitSummary {
                    total: s.total,
                    counts: s.counts.clone(),
                    storage: s.storage.clone(),
                },
            )
        })
        .collect();
    Ok(Report {
        dataset: m.dataset.clone(),
        train: Stats::with_groups(train.counts(), &m.groups),
        class_names: m.class_names.clone(),
        groups: m.groups.clone(),
        profile: m.profile.clone(),
        seed: m.seed,
        splits,
    })
}

/// Statistics of an official split list alone (`path label` lines), without any pixels.
pub fn split_list(path: &Path) -> Result<Stats> {
    let entries = crate::source::listfile::parse(path)?;
    let k = entries
        .iter()
        .map(|(_, l)| *l as usize + 1)
        .max()
        .unwrap_or(0);
    let mut counts = vec![0u32; k];
    for (_, l) in &entries {
        counts[*l as usize] += 1;
    }
    Ok(Stats::new(&counts, &GroupRule::default()))
}

/// Re-reads every split of the dataset in `dir`: structure, checksum, and agreement with the
/// manifest. Returns the number of samples checked.
pub fn verify(dir: &Path) -> Result<usize> {
    let m = Manifest::load(dir)?;
    let mut n = 0;
    if !m.splits.contains_key("train") {
        return Err(Error::format(
            dir.join(crate::manifest::FILE),
            "no train split listed",
        ));
    }
    for (name, info) in &m.splits {
        let path = m.split_path(dir, name)?;
        let r = Reader::open(&path)?;
        r.verify_checksum()?;
        if format!("{:08x}", r.checksum()) != info.checksum {
            return Err(Error::format(
                &path,
                format!(
                    "checksum {:08x} differs from the manifest's {}",
                    r.checksum(),
                    info.checksum
                ),
            ));
        }
        if r.counts() != info.counts.as_slice() || r.len() != info.total {
            return Err(Error::format(
                &path,
                "sample counts differ from the manifest",
            ));
        }
        if r.num_classes() != m.num_classes {
            return Err(Error::format(
                &path,
                format!(
                    "{} classes, manifest says {}",
                    r.num_classes(),
                    m.num_classes
                ),
            ));
        }
        n += r.len();
    }
    if m.groups.len() != m.num_classes || m.class_names.len() != m.num_classes {
        return Err(Error::format(
            dir.join(crate::manifest::FILE),
            "class names or groups do not cover every class",
        ));
    }
    Ok(n)
}
