//! A sweep directory (`--out` of `--seeds`): one run directory `seed-S` per seed, and the
//! summary of the last sweep whose seeds all completed (`summary.json`, `summary.md`). Nothing
//! else may be in it, so a sweep never mixes with another tool's files, and removes only the
//! summary files it wrote.

use super::SweepError;
use std::path::{Path, PathBuf};

/// The sweep's summary, every statistic (see `summary`).
pub const SUMMARY_JSON: &str = "summary.json";
/// The sweep's summary as a Markdown table.
pub const SUMMARY_MD: &str = "summary.md";
/// The `written_by` of a summary.json this module may replace.
pub(super) const WRITTEN_BY: &str = "lt-train --seeds";
/// The first line of a summary.md this module may replace.
pub(super) const MD_TITLE: &str = "# Seeds summary";

/// The run directory of `seed` in the sweep directory `out`: `OUT/seed-S`.
pub fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

/// Whether `seed`'s run in `out` is complete (it wrote its `metrics.json`, a run's last file
/// but for the plots).
pub(super) fn complete(out: &Path, seed: u64) -> bool {
    seed_dir(out, seed).join("metrics.json").is_file()
}

/// Refuses a sweep directory holding anything but `seed-S` directories and summary files this
/// module wrote; a missing one is fine (the runs create it).
pub(super) fn check(out: &Path) -> Result<(), SweepError> {
    if out.exists() && !out.is_dir() {
        return Err(SweepError::NotSweepDir {
            dir: out.to_path_buf(),
            what: "a file".into(),
        });
    }
    let list = match std::fs::read_dir(out) {
        Ok(list) => list,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SweepError::io(out, e)),
    };
    let mut strangers = Vec::new();
    for entry in list {
        let entry = entry.map_err(|e| SweepError::io(out, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let ours = match name.as_str() {
            SUMMARY_JSON | SUMMARY_MD => !is_dir && written_here(&entry.path()),
            n => {
                is_dir
                    && n.strip_prefix("seed-")
                        .is_some_and(|s| s.parse::<u64>().is_ok())
            }
        };
        if !ours {
            strangers.push(if is_dir { format!("{name}/") } else { name });
        }
    }
    if strangers.is_empty() {
        return Ok(());
    }
    strangers.sort();
    Err(not_sweep_dir(out, strangers))
}

fn not_sweep_dir(out: &Path, strangers: Vec<String>) -> SweepError {
    let mut holds = strangers
        .iter()
        .take(6)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if strangers.len() > 6 {
        holds.push_str(&format!(" and {} more", strangers.len() - 6));
    }
    SweepError::NotSweepDir {
        dir: out.to_path_buf(),
        what: format!("holds {holds}"),
    }
}

/// Whether a summary file is one a sweep wrote (summary.json's `written_by`, summary.md's
/// title line).
fn written_here(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v["written_by"] == WRITTEN_BY),
        _ => text.lines().next() == Some(MD_TITLE),
    }
}

/// Removes the summary of an earlier sweep (checked by [`check`] to be one a sweep wrote), so
/// that a sweep that fails leaves none: summary.json first, which says the seeds are complete.
pub(super) fn remove_summary(out: &Path) -> Result<(), SweepError> {
    for name in [SUMMARY_JSON, SUMMARY_MD] {
        let path = out.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(SweepError::io(path, e))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_seed_runs_and_our_summaries_belong() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sweep");
        check(&out).unwrap();
        std::fs::create_dir_all(out.join("seed-0")).unwrap();
        std::fs::create_dir_all(out.join("seed-12")).unwrap();
        std::fs::write(
            out.join(SUMMARY_JSON),
            r#"{"written_by": "lt-train --seeds"}"#,
        )
        .unwrap();
        std::fs::write(out.join(SUMMARY_MD), format!("{MD_TITLE}\n")).unwrap();
        check(&out).unwrap();
        remove_summary(&out).unwrap();
        assert!(!out.join(SUMMARY_JSON).exists() && !out.join(SUMMARY_MD).exists());
        remove_summary(&out).unwrap();

        std::fs::write(out.join(SUMMARY_JSON), r#"{"mine": 1}"#).unwrap();
        std::fs::write(out.join("notes.txt"), "").unwrap();
        std::fs::create_dir(out.join("seed-x")).unwrap();
        std::fs::write(out.join("seed-3"), "").unwrap();
        let err = check(&out).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: not a --seeds directory (holds notes.txt, seed-3, seed-x/, summary.json); choose another --out",
                out.display()
            )
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            check(&file).unwrap_err().to_string(),
            format!(
                "{}: not a --seeds directory (a file); choose another --out",
                file.display()
            )
        );
    }

    #[test]
    fn a_seed_is_complete_once_it_wrote_its_metrics() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(seed_dir(dir.path(), 7), dir.path().join("seed-7"));
        std::fs::create_dir_all(seed_dir(dir.path(), 7).join("checkpoints")).unwrap();
        assert!(!complete(dir.path(), 7));
        std::fs::write(seed_dir(dir.path(), 7).join("metrics.json"), "{}").unwrap();
        assert!(complete(dir.path(), 7));
    }
}
