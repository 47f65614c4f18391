//! Summary statistics of a class-count vector: what `lt-data inspect` prints.

use crate::recipe::{Group, GroupRule};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub classes: usize,
    pub total: u64,
    pub counts: Vec<u32>,
    pub max: u32,
    pub min: u32,
    /// max / min over classes (`None` when a class is empty).
    pub imbalance: Option<f64>,
    /// Number of classes in each shot group.
    pub many: usize,
    pub medium: usize,
    pub few: usize,
    /// Training images in each shot group.
    pub many_images: u64,
    pub medium_images: u64,
    pub few_images: u64,
}

impl Stats {
    /// Statistics of `counts` with the groups of `rule`.
    ///
    /// ```
    /// use lt_data::{recipe::GroupRule, stats::Stats};
    /// let s = Stats::new(&[500, 50, 5], &GroupRule::default());
    /// assert_eq!((s.total, s.imbalance, s.many, s.medium, s.few), (555, Some(100.0), 1, 1, 1));
    /// ```
    pub fn new(counts: &[u32], rule: &GroupRule) -> Self {
        Self::with_groups(counts, &rule.assign(counts))
    }

    /// Statistics with explicit groups (as stored in a manifest).
    pub fn with_groups(counts: &[u32], groups: &[Group]) -> Self {
        let max = counts.iter().copied().max().unwrap_or(0);
        let min = counts.iter().copied().min().unwrap_or(0);
        let mut n = [0usize; 3];
        let mut img = [0u64; 3];
        for (g, &c) in groups.iter().zip(counts) {
            let i = match g {
                Group::Many => 0,
                Group::Medium => 1,
                Group::Few => 2,
            };
            n[i] += 1;
            img[i] += c as u64;
        }
        Stats {
            classes: counts.len(),
            total: counts.iter().map(|&c| c as u64).sum(),
            counts: counts.to_vec(),
            max,
            min,
            imbalance: (min > 0).then(|| max as f64 / min as f64),
            many: n[0],
            medium: n[1],
            few: n[2],
            many_images: img[0],
            medium_images: img[1],
            few_images: img[2],
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "classes    {}", self.classes)?;
        writeln!(f, "total      {}", self.total)?;
        writeln!(f, "max / min  {} / {}", self.max, self.min)?;
        match self.imbalance {
            Some(r) => writeln!(f, "imbalance  {r:.2}")?,
            None => writeln!(f, "imbalance  undefined (an empty class)")?,
        }
        writeln!(
            f,
            "many       {} classes, {} images",
            self.many, self.many_images
        )?;
        writeln!(
            f,
            "medium     {} classes, {} images",
            self.medium, self.medium_images
        )?;
        writeln!(
            f,
            "few        {} classes, {} images",
            self.few, self.few_images
        )?;
        if self.classes <= 100 {
            let c: Vec<String> = self.counts.iter().map(|c| c.to_string()).collect();
            write!(f, "counts     [{}]", c.join(", "))?;
        }
        Ok(())
    }
}
