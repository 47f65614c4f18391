//! The metrics JSON of `lt-train eval`: every field of the run's `metrics.json` metrics, and
//! which checkpoint, stage, dataset and split they are of; relative accuracy; and the run's
//! charts of them.

use crate::metrics::{Metrics, UpperReference};
use crate::train::Trained;
use crate::Result;
use std::path::{Path, PathBuf};

/// The upper reference of an evaluation's relative accuracy: the best of `runs` when given,
/// else the run's configuration's (`upper_from`, `upper_top1`); none for a split other than
/// the balanced `test` split, which relative accuracy is defined on.
pub fn upper_reference(t: &Trained, runs: &[PathBuf]) -> Result<Option<UpperReference>> {
    let cfg = t.config();
    let upper = match runs {
        [] => UpperReference::of_config(cfg)?,
        runs => Some(UpperReference::from_runs(runs)?),
    };
    Ok(upper.filter(|_| cfg.eval_split == "test"))
}

/// Writes `metrics` of the model restored from `checkpoint` to `path` atomically, with
/// relative accuracy against `upper` when given.
pub fn write_json(
    path: &Path,
    (metrics, upper): (&Metrics, Option<&UpperReference>),
    t: &Trained,
    checkpoint: &Path,
) -> Result<()> {
    let mut out = serde_json::to_value(metrics)?;
    if let Some(u) = upper {
        u.annotate(&mut out, metrics.top1);
    }
    let cfg = t.config();
    out["checkpoint"] = serde_json::json!(checkpoint.display().to_string());
    out["stage"] = serde_json::json!(t.stage());
    out["dataset"] = serde_json::json!(cfg.dataset.display().to_string());
    out["split"] = serde_json::json!(cfg.eval_split);
    let text = serde_json::to_string_pretty(&out)?;
    Ok(lt_data::manifest::write_atomic(path, text.as_bytes())?)
}

/// Draws the charts a run ends with (`reliability.png`, `per_class.png`) of `metrics` into
/// `dir`, which is created if missing.
pub fn write_plots(dir: &Path, metrics: &Metrics, t: &Trained) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    crate::metrics::write_plots(metrics, t.class_counts(), t.groups(), dir)
}
