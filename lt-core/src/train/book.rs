//! A run's bookkeeping: where it writes, where a resumed run starts, the best top-1 so far, the
//! last metrics, and the files that close a run (`metrics.json`, the reliability diagram).

use super::clock::RunClock;
use super::data::Data;
use super::net::Model;
use super::run_dir::RunDir;
use super::stage::Stage;
use super::{checkpoint_path, log};
use crate::checkpoint::{self, CheckpointMeta};
use crate::config::Config;
use crate::metrics::{self, Metrics, UpperReference};
use crate::Result;
use std::path::{Path, PathBuf};

/// Where a run starts: (stage, completed epochs), and the best top-1 the run had reached.
pub(super) struct Resumed {
    pub start: (u32, usize),
    pub best: f64,
}

/// The newest `last` checkpoint of `cfg.out` when `dir` resumes; stage 1, epoch 0 otherwise.
pub(super) fn resume_point(cfg: &Config, main: bool, dir: &RunDir) -> Result<Resumed> {
    let fresh = Resumed {
        start: (1, 0),
        best: f64::NEG_INFINITY,
    };
    if !dir.resumes() {
        return Ok(fresh);
    }
    for stage in [2u32, 1] {
        let p = checkpoint_path(&cfg.out, stage, "last");
        if p.exists() {
            let ck = checkpoint::load(&p)?;
            if main {
                eprintln!("resuming stage {stage} at epoch {}", ck.meta.epoch);
            }
            return Ok(Resumed {
                start: (stage, ck.meta.epoch),
                best: ck.meta.best_top1.unwrap_or(f64::NEG_INFINITY),
            });
        }
    }
    Ok(fresh)
}

/// The run's bookkeeping: where it writes, the best top-1 so far, the last metrics.
pub(super) struct Book {
    pub run_dir: PathBuf,
    pub main: bool,
    pub resuming: bool,
    seed: u64,
    config_json: serde_json::Value,
    pub log: log::Writes,
    pub best: f64,
    pub last_metrics: Option<Metrics>,
    pub epochs_run: usize,
    /// The run's wall time, continued from the directory's last kept epoch when resuming.
    pub clock: RunClock,
    /// The upper reference of relative accuracy, read before the run started.
    pub upper: Option<UpperReference>,
}

impl Book {
    /// Opens the metrics log of a prepared run directory; `best` is the resumed run's.
    pub fn new(cfg: &Config, main: bool, dir: &RunDir, best: f64, clock: RunClock) -> Result<Self> {
        Ok(Book {
            run_dir: cfg.out.clone(),
            main,
            resuming: dir.resumes(),
            seed: cfg.seed,
            config_json: serde_json::to_value(cfg)?,
            log: log::Writes::new(main, &cfg.out)?,
            best,
            last_metrics: None,
            epochs_run: 0,
            clock,
            upper: None,
        })
    }

    /// Writes checkpoint `stage{N}-{tag}` at `epoch` (main rank only).
    pub fn save(&mut self, st: &mut Stage, m: &mut Model, tag: &str, epoch: usize) -> Result<()> {
        let extra = st.extra(m)?;
        let meta = CheckpointMeta::new(
            epoch,
            st.num,
            self.seed,
            self.best.is_finite().then_some(self.best),
            self.config_json.clone(),
        );
        let path = checkpoint_path(&self.run_dir, st.num, tag);
        let optim = st.optim_state();
        if self.main {
            checkpoint::save(&path, &m.vs, &extra, &optim, &meta)?;
        }
        Ok(())
    }
}

/// `metrics.json` (the final metrics, the best top-1, units, relative accuracy against `upper`
/// with where A_u came from, and a block per evaluated split under `splits`),
/// `reliability.png` and `per_class.png` in the run directory.
pub(super) fn write_metrics(
    (metrics, splits): (&Metrics, &[(String, Metrics)]),
    best: f64,
    upper: Option<&UpperReference>,
    data: &Data,
    run_dir: &Path,
) -> Result<()> {
    let mut out = serde_json::to_value(metrics)?;
    out["best_top1"] = serde_json::json!(best.is_finite().then_some(best));
    out["units"] = serde_json::json!({"top1": "percent", "top5": "percent", "many": "percent", "medium": "percent",
        "few": "percent", "ece": "percent (15 equal-width bins)", "mce": "percent", "nll": "nats per image"});
    if let Some(u) = upper {
        u.annotate(&mut out, metrics.top1);
        out["units"]["relative_accuracy"] = serde_json::json!("percent of upper_top1");
    }
    if !splits.is_empty() {
        let mut blocks = serde_json::Map::new();
        for (name, m) in splits {
            blocks.insert(name.clone(), serde_json::to_value(m)?);
        }
        out["splits"] = serde_json::Value::Object(blocks);
    }
    lt_data::manifest::write_atomic(
        &run_dir.join("metrics.json"),
        serde_json::to_string_pretty(&out)?.as_bytes(),
    )?;
    metrics::write_plots(metrics, data.train.counts(), &data.groups, run_dir)?;
    Ok(())
}
