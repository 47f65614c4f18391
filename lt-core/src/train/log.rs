//! What a run writes as it goes: one line per epoch on stderr and in `metrics.jsonl` (only the
//! main rank of a data-parallel run writes; its checkpoints are written by `Book::save`).

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// The line an epoch prints: its metrics.jsonl entry, with the test metrics when it has them.
pub(super) fn epoch_line(
    stage: u32,
    epoch: usize,
    epochs: usize,
    entry: &serde_json::Value,
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
    }
    s.push_str(&format!("  {:.0} img/s", num(&entry["images_per_sec"])));
    s
}

/// What only the main rank writes: the metrics log.
pub(super) struct Writes {
    log: Option<std::fs::File>,
}

impl Writes {
    pub fn new(main: bool, run_dir: &Path) -> Result<Self> {
        let log = if main {
            let p = run_dir.join("metrics.jsonl");
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|e| Error::io_while(format!("opening {}", p.display()), e))?,
            )
        } else {
            None
        };
        Ok(Writes { log })
    }
    pub fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        if let Some(f) = &mut self.log {
            writeln!(f, "{v}").map_err(Error::Os)?;
        }
        Ok(())
    }
}
