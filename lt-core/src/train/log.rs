//! What a run writes as it goes: one line per epoch on stderr, in `metrics.jsonl` and in
//! `metrics.csv` (only the main rank of a data-parallel run writes; its checkpoints are written
//! by `Book::save`).

use super::{clock, csv};
use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// The line an epoch prints: its metrics.jsonl entry, with the test metrics when it has them,
/// then the run's elapsed time and the `eta` (seconds) of its remaining epochs.
pub(super) fn epoch_line(
    (stage, epoch, epochs): (u32, usize, usize),
    entry: &serde_json::Value,
    eta: f64,
) -> String {
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let mut s = format!(
        "stage {stage} epoch {epoch:>3}/{epochs}  loss {:.4}",
        num(&entry["train_loss"])
    );
    let t = &entry["test"];
    if t.is_object() {
        s.push_str(&format!(
            "  top1 {:.2}  many {}  medium {}  few {}  ECE {:.2}  NLL {:.3}",
            num(&t["top1"]),
            fmt_opt(t["many"].as_f64()),
            fmt_opt(t["medium"].as_f64()),
            fmt_opt(t["few"].as_f64()),
            num(&t["ece"]),
            num(&t["nll"])
        ));
        if let Some(b) = t["branches_per_image"].as_f64() {
            s.push_str(&format!("  branches/image {b:.3}"));
        }
    }
    s.push_str(&format!(
        "  {:.0} img/s  elapsed {}  eta {}",
        num(&entry["images_per_sec"]),
        clock::hms(num(&entry["elapsed_s"])),
        clock::hms(eta)
    ));
    s
}

/// The line the final evaluation of one of `eval_splits` prints.
pub(super) fn split_line(name: &str, m: &crate::metrics::Metrics) -> String {
    let line = format!(
        "eval {name}: top1 {:.2}  many {}  medium {}  few {}  ECE {:.2}  NLL {:.3}",
        m.top1,
        fmt_opt(m.many),
        fmt_opt(m.medium),
        fmt_opt(m.few),
        m.ece,
        m.nll
    );
    match m.branches_per_image {
        Some(b) => format!("{line}  branches/image {b:.3}"),
        None => line,
    }
}

/// What only the main rank writes: the metrics log and table, appended to as the run goes.
pub(super) struct Writes {
    /// `metrics.jsonl` and `metrics.csv`, with their paths (for errors).
    files: Option<[(PathBuf, std::fs::File); 2]>,
}

fn append(path: PathBuf) -> Result<(PathBuf, std::fs::File)> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io_while(format!("opening {}", path.display()), e))?;
    Ok((path, f))
}

impl Writes {
    /// Opens `metrics.jsonl` and `metrics.csv` (whose header `RunDir::prepare` wrote) on the
    /// main rank.
    pub fn new(main: bool, run_dir: &Path) -> Result<Self> {
        let files = if main {
            Some([
                append(run_dir.join("metrics.jsonl"))?,
                append(run_dir.join("metrics.csv"))?,
            ])
        } else {
            None
        };
        Ok(Writes { files })
    }

    /// Appends an epoch's entry: one JSON line and one csv row, each in one write (the files
    /// are unbuffered, so both are with the kernel when this returns).
    pub fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        for ((path, f), text) in files.iter_mut().zip([format!("{v}\n"), csv::row(v)]) {
            f.write_all(text.as_bytes())
                .map_err(|e| Error::io(&*path, e))?;
        }
        Ok(())
    }
}
