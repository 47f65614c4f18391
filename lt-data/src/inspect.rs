//! `lt-data inspect` and `lt-data verify`: statistics of a built dataset or a split list, and
//! a full re-check of a dataset's files against their checksums and its manifest.

use crate::dataset::Dataset;
use crate::error::Result;
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

/// Statistics of the dataset in `dir` (a directory holding `manifest.json`), after the same
/// checks the trainer makes (every split's header against the manifest).
pub fn dataset(dir: &Path) -> Result<Report> {
    let d = Dataset::open(dir)?;
    let m = &d.manifest;
    let train = d.split("train")?;
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
/// With `classes` every label must be below it; without, the class count is the largest
/// label + 1, which may not exceed the number of entries.
pub fn split_list(path: &Path, classes: Option<usize>) -> Result<Stats> {
    use crate::source::{listfile, Classes};
    let entries = listfile::parse_numbered(path)?;
    let classes = match classes {
        Some(k) => Classes::new(k, "given by --classes"),
        None => listfile::implied_classes(path, &entries)?,
    };
    listfile::check_labels(path, &entries, &classes)?;
    let mut counts = vec![0u32; classes.count];
    for (_, _, l) in &entries {
        counts[*l as usize] += 1;
    }
    Ok(Stats::new(&counts, &GroupRule::default()))
}

/// Re-reads every split of the dataset in `dir`: structure, agreement of every header with the
/// manifest and of the splits with each other, and checksums. Returns the number of samples.
pub fn verify(dir: &Path) -> Result<usize> {
    Dataset::open(dir)?.verify_checksums()
}
