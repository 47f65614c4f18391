//! Run directories: what `--out` may be, and what a run leaves in it before training.
//!
//! * A missing or empty directory starts a fresh run, which first records its resolved
//!   configuration in `RUN/config.toml` (atomically).
//! * A non-empty one is continued only with `--resume`, and only with the configuration it was
//!   made with (keys in [`RESUME_NEUTRAL_KEYS`] aside); `--resume` on a missing or empty one
//!   starts fresh, so cluster requeue scripts can always pass it.
//! * A resumed run drops the `metrics.jsonl` lines and `metrics.csv` rows of the epochs after
//!   its checkpoint, so its logs read as those of an uninterrupted run.
//! * A dataset directory (one holding an lt-data `manifest.json`) is never a run directory.

use super::csv;
use crate::checkpoint;
use crate::config::{Config, RESUME_NEUTRAL_KEYS};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// How a run uses its directory; decided by [`RunDir::inspect`] before anything is written.
#[derive(Debug)]
pub(super) struct RunDir {
    path: PathBuf,
    /// Continue the run the directory holds (else start a fresh one).
    resume: bool,
    /// `--resume` was given but there was nothing to resume.
    fresh_on_resume: bool,
}

/// Whether `lt-train --resume` with `cfg` may use `cfg.out` (missing, empty, or a run made with
/// this configuration), reading only: what a `--seeds` sweep checks of every seed's run
/// directory before it starts any.
pub fn check_resumable(cfg: &Config) -> Result<()> {
    RunDir::inspect(cfg, true).map(|_| ())
}

/// Names of the directory's entries (folders with a trailing `/`), files first, sorted; empty
/// when the directory does not exist.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let list = match std::fs::read_dir(dir) {
        Ok(list) => list,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in list {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let name = entry.file_name().to_string_lossy().into_owned();
        names.push((is_dir, if is_dir { format!("{name}/") } else { name }));
    }
    names.sort();
    Ok(names.into_iter().map(|(_, n)| n).collect())
}

/// `a, b, c` for at most six names, then how many more.
fn listing(names: &[String]) -> String {
    let mut s = names.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 6 {
        s.push_str(&format!(" and {} more", names.len() - 6));
    }
    s
}

impl RunDir {
    /// Decides, reading only, whether `cfg.out` starts a fresh run or continues one; every rank
    /// calls it before the process group forms, so none sees a directory another has begun.
    pub(super) fn inspect(cfg: &Config, resume: bool) -> Result<RunDir> {
        let path = cfg.out.clone();
        let shown = path.display();
        if path.join("manifest.json").is_file() {
            return Err(Error::RunDir(format!("{shown}: is a dataset directory (holds lt-data's manifest.json); choose another --out")));
        }
        if path.exists() && !path.is_dir() {
            return Err(Error::RunDir(format!(
                "{shown}: not a directory; choose another --out"
            )));
        }
        let names = entries(&path)?;
        if names.is_empty() {
            return Ok(RunDir {
                path,
                resume: false,
                fresh_on_resume: resume,
            });
        }
        if !resume {
            return Err(Error::RunDir(format!(
                "{shown}: not empty (holds {}); continue it with --resume or choose another --out",
                listing(&names)
            )));
        }
        let (recorded, origin) = recorded_config(&path, &names)?;
        let keys = cfg.differing_keys(&recorded);
        if !keys.is_empty() {
            return Err(Error::RunDir(format!(
                "{origin}: the run was made with other values of {}; resume with them (only {} may change) or choose another --out",
                keys.join(", "),
                RESUME_NEUTRAL_KEYS.join(", ")
            )));
        }
        // A table the run cannot append to stops it here, before anything is printed or changed.
        csv::read(&path.join("metrics.csv"))?;
        Ok(RunDir {
            path,
            resume: true,
            fresh_on_resume: false,
        })
    }

    /// Whether the run continues from the directory's checkpoints.
    pub(super) fn resumes(&self) -> bool {
        self.resume
    }

    /// Makes the directory ready for training at `start` (stage, completed epochs): a fresh run
    /// records its configuration and starts `metrics.csv` with its header; a resumed one drops
    /// the metrics lines and rows logged after `start`, which the run is about to log again.
    /// Returns the seconds the run had taken up to `start` (the last kept row's `elapsed_s`; 0
    /// for a fresh run or one whose directory has no such row). Only the main rank calls it.
    pub(super) fn prepare(&self, cfg: &Config, start: (u32, usize)) -> Result<f64> {
        let shown = self.path.display();
        if self.fresh_on_resume {
            eprintln!("{shown}: nothing to resume (missing or empty); starting a fresh run");
        }
        std::fs::create_dir_all(self.path.join("checkpoints"))
            .map_err(|e| Error::io_while(format!("{shown}: cannot create it"), e))?;
        let table = self.path.join("metrics.csv");
        if self.resume {
            keep_metrics_up_to(&self.path.join("metrics.jsonl"), start)?;
            return keep_rows_up_to(&table, start);
        }
        lt_data::manifest::write_atomic(&self.path.join("config.toml"), cfg.to_toml().as_bytes())?;
        lt_data::manifest::write_atomic(&table, format!("{}\n", csv::header()).as_bytes())?;
        Ok(0.0)
    }
}

/// The configuration a run directory was made with: its `config.toml`, or, for one written
/// before run directories recorded it, the configuration in its newest `last` checkpoint.
fn recorded_config(dir: &Path, names: &[String]) -> Result<(toml::Table, String)> {
    let file = dir.join("config.toml");
    let origin = file.display().to_string();
    if file.exists() {
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        let table = toml::from_str(&text)
            .map_err(|e| Error::RunDir(format!("{origin}: {}", e.message())))?;
        return Ok((table, origin));
    }
    for stage in [2u32, 1] {
        let p = super::checkpoint_path(dir, stage, "last");
        if p.exists() {
            let ck = checkpoint::load(&p)?;
            let cfg: Config =
                serde_json::from_value(ck.meta.config).map_err(|source| Error::Snapshot {
                    path: p.clone(),
                    source,
                })?;
            let table = toml::from_str(&cfg.to_toml()).expect("config round-trips");
            return Ok((table, p.display().to_string()));
        }
    }
    Err(Error::RunDir(format!(
        "{}: not a run directory (holds {}, but no config.toml); choose another --out",
        dir.display(),
        listing(names)
    )))
}

/// The lines whose (stage, epoch), as `at` reads it, is at most `start`, in their order; a torn
/// or foreign line (`at` gives `None`) is dropped too.
fn lines_up_to<'a>(
    lines: impl Iterator<Item = &'a str>,
    start: (u32, usize),
    at: impl Fn(&str) -> Option<(u32, usize)>,
) -> Vec<&'a str> {
    lines
        .filter(|l| at(l).is_some_and(|se| se <= start))
        .collect()
}

/// Replaces `path` (atomically) with `lines` unless it already holds exactly them.
fn rewrite(path: &Path, text: &str, lines: &[&str]) -> Result<()> {
    let kept: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if kept == text {
        return Ok(());
    }
    Ok(lt_data::manifest::write_atomic(path, kept.as_bytes())?)
}

/// Rewrites `metrics.jsonl` keeping the lines of epochs up to `start`.
fn keep_metrics_up_to(path: &Path, start: (u32, usize)) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let at = |line: &str| -> Option<(u32, usize)> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        Some((v["stage"].as_u64()? as u32, v["epoch"].as_u64()? as usize))
    };
    rewrite(path, &text, &lines_up_to(text.lines(), start, at))
}

/// Rewrites `metrics.csv` keeping its header and the rows of epochs up to `start` (a directory
/// made before lt-train wrote one gets the header alone); returns the last kept row's
/// `elapsed_s`, or 0.
fn keep_rows_up_to(path: &Path, start: (u32, usize)) -> Result<f64> {
    let header = csv::header();
    let text = csv::read(path)?.unwrap_or_default();
    let rows = lines_up_to(text.lines().skip(1), start, csv::row_at);
    let before = rows.last().and_then(|r| csv::row_elapsed(r)).unwrap_or(0.0);
    let lines: Vec<&str> = std::iter::once(header.as_str()).chain(rows).collect();
    rewrite(path, &text, &lines)?;
    Ok(before)
}
