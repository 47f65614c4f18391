//! The trainer: one loop for every method. Stage 1 learns the representation; an optional
//! stage 2 (decoupled methods) freezes the backbone and re-trains the classifier with its own
//! sampler, loss and head. Methods plug in as samplers, losses and heads (see `plugin`).
//!
//! The loop is written for the device it runs on: batches reach it one step ahead
//! (`batches`), uint8 batches are finished on it (`device_aug`), statistics stay on it between
//! reads (`stats`), SGD runs as multi-tensor kernels (`optim`), and mixed precision keeps its
//! loss scale there (`amp`).
//!
//! Determinism: tch, the loader and mixup are re-seeded from (seed, stage, epoch) at every
//! epoch start, so a run resumed from an epoch checkpoint continues exactly as if uninterrupted.

mod batches;
mod components;
mod data;
mod device_aug;
mod epoch;
mod evaluate;
mod log;
mod net;
mod run_dir;
mod stage;
mod stats;

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::{Config, StageConfig};
use crate::dist::ProcessGroup;
use crate::metrics::{self, Metrics};
use crate::plugin::DatasetInfo;
use anyhow::{bail, Context, Result};
use components::{LossFn, Plugins};
use data::Data;
use epoch::EpochReport;
use evaluate::{evaluate, EvalInput};
use lt_data::sampler;
use net::Model;
use run_dir::RunDir;
use stage::{Env, Stage};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device};

/// What a finished run reports.
#[derive(Debug)]
pub struct Summary {
    pub metrics: Metrics,
    pub best_top1: f64,
    pub run_dir: PathBuf,
    /// CRC-32 of every model tensor in name order: equal on all ranks of a data-parallel run.
    pub weights_crc: u32,
}

/// Run-time switches that are not part of the method's configuration.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Continue from the last epoch checkpoint in the run directory.
    pub resume: bool,
    /// No progress bars; every epoch still prints its one line.
    pub quiet: bool,
    /// Stop after this many epochs in total (across stages) without finishing: lets tests
    /// interrupt a run the way a kill would.
    pub stop_after_epochs: Option<usize>,
}

/// Where the checkpoints of a run live.
pub fn checkpoint_path(run: &Path, stage: u32, tag: &str) -> PathBuf {
    run.join("checkpoints")
        .join(format!("stage{stage}-{tag}.safetensors"))
}

/// Checks that `cfg` can run without training anything: its plugins load, and every stage's
/// loss, head and sampler exist and accept their configs (each is built once for a stand-in
/// 10-class long-tailed dataset with 64-wide features). `lt-train --check` runs it, so shipped
/// configs are tested without data.
pub fn check(cfg: &Config) -> Result<()> {
    let plugins = Plugins::load(&cfg.plugins)?;
    let counts: Vec<u64> = (0..10)
        .map(|c| (1000.0 * 0.01f64.powf(c as f64 / 9.0)) as u64)
        .collect();
    let labels: Vec<u32> = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c as u32, n as usize))
        .collect();
    let info = DatasetInfo {
        num_classes: counts.len(),
        class_counts: counts,
        feature_dim: 64,
        seed: cfg.seed,
        device: Device::Cpu,
    };
    let stages = std::iter::once((1, &cfg.stage1)).chain(cfg.stage2.iter().map(|s| (2, s)));
    for (stage, sc) in stages {
        plugins.loss(stage, sc, &info)?;
        plugins.head(stage, sc, &info)?;
        if !sampler::NAMES.contains(&sc.sampler.as_str()) {
            plugins.sampler(stage, sc, &info, &labels)?;
        }
    }
    Ok(())
}

/// Trains and evaluates as `cfg` says; writes metrics, plots and checkpoints under `cfg.out`.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Summary> {
    cfg.validate()?;
    let data = data::load_data(&cfg.dataset, &cfg.eval_split)
        .with_context(|| format!("dataset {}", cfg.dataset.display()))?;
    data::check_batch_sizes(cfg, data.train.len())?;
    let dir = RunDir::inspect(cfg, opts.resume)?;
    // Launched by torchrun or srun: join the process group (data-parallel training).
    let timeout = (cfg.dist_timeout > 0).then(|| std::time::Duration::from_secs(cfg.dist_timeout));
    let pg = ProcessGroup::from_env(timeout)?;
    let main = pg.as_ref().is_none_or(|p| p.is_main());
    let device = match (&pg, cfg.device.as_str()) {
        (Some(p), "auto") => p.device(),
        _ => crate::device::select(&cfg.device)?,
    };
    let sync_debug = epoch::SyncDebug::from_env(device)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tch::set_num_threads(if cfg.threads == 0 { cores } else { cfg.threads } as i32);
    let plugins = Plugins::load(&cfg.plugins)?;
    let mut m = build_model(cfg, &data, device, pg.as_ref())?;
    let mut book = Book::new(cfg, main, &dir)?;
    let mut start = book.resume_point(&dir)?;
    // A given stage-1 model replaces stage 1 (decoupled methods sharing one representation).
    if !cfg.init_checkpoint.as_os_str().is_empty() && start == (1, 0) {
        let ck = checkpoint::load(&cfg.init_checkpoint).context("init_checkpoint")?;
        ck.restore_varstore(&m.vs, "")?;
        start = (2, 0);
    }
    if main {
        dir.prepare(cfg, start)?;
    }
    book.open_log()?;
    let eval = EvalInput::new(&data.manifest, cfg, device)?;
    let env = Env {
        cfg,
        data: &data,
        plugins: &plugins,
        pg: pg.as_ref(),
        device,
        precision: cfg.amp,
        eval: &eval,
        quiet: opts.quiet,
        sync_debug,
    };
    let stages = std::iter::once((1u32, &cfg.stage1)).chain(cfg.stage2.iter().map(|s| (2u32, s)));
    for (num, sc) in stages.filter(|(n, _)| *n >= start.0) {
        let first = if num == start.0 { start.1 } else { 0 };
        run_stage(num, sc, first, &env, &mut m, &mut book, opts)?;
    }
    finish(&env, &mut m, book)
}

/// The network of the run, every rank starting from rank 0's weights.
fn build_model(
    cfg: &Config,
    data: &Data,
    device: Device,
    pg: Option<&ProcessGroup>,
) -> Result<Model> {
    let k = data.manifest.num_classes as i64;
    let arch = if cfg.model.is_empty() {
        data.manifest.model.clone()
    } else {
        cfg.model.clone()
    };
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(device);
    let (backbone, head) = crate::model::build(&arch, &vs.root(), data.in_channels, k)?;
    let mut m = Model {
        vs,
        backbone,
        head,
        plugin_head: None,
    };
    if cfg.channels_last {
        m.backbone.set_channels_last(true)?;
    }
    if let Some(pg) = pg {
        crate::dist::broadcast_parameters(pg, &net::sorted_variables(&m.vs))?;
    }
    Ok(m)
}

/// Runs stage `num` from epoch `first` (0 unless resuming) to its end.
fn run_stage(
    num: u32,
    sc: &StageConfig,
    first: usize,
    env: &Env,
    m: &mut Model,
    book: &mut Book,
    opts: &RunOptions,
) -> Result<()> {
    let mut st = stage::build(num, sc, env, m)?;
    if book.resuming && first > 0 {
        let ck = checkpoint::load(&checkpoint_path(&book.run_dir, num, "last"))?;
        st.restore(&ck, m)?;
    }
    for epoch in first..sc.epochs {
        if opts.stop_after_epochs.is_some_and(|n| book.epochs_run >= n) {
            bail!(
                "stopped after {} epochs as asked (--stop-after)",
                book.epochs_run
            );
        }
        let report = epoch::run_epoch(&mut st, m, epoch, env)?;
        book.epochs_run += 1;
        record_epoch(&mut st, m, epoch, &report, env, book)?;
    }
    // A stage without epochs, or one a resumed run had finished: evaluate it as it is.
    if first >= sc.epochs {
        book.last_metrics = Some(evaluate(m, &mut st.learn.loss, env.data, env.eval, env.pg)?);
    }
    book.save(&st, m, "final", sc.epochs)
}

/// After an epoch: its line (with test metrics when it evaluates), the best and last
/// checkpoints.
fn record_epoch(
    st: &mut Stage,
    m: &mut Model,
    epoch: usize,
    r: &EpochReport,
    env: &Env,
    book: &mut Book,
) -> Result<()> {
    let seen = r.stats.seen.max(1) as f64;
    let mut line = serde_json::json!({
        "stage": st.num, "epoch": epoch + 1, "train_loss": r.stats.loss_sum / seen,
        "train_acc": 100.0 * r.stats.correct / seen, "images_per_sec": r.images_per_sec(),
        "lr": st.learn.opt.lr(), "steps": r.steps, "device_reads": r.reads,
        "data_wait_fraction": r.data_wait / r.seconds.max(1e-9),
    });
    if r.stats.skipped > 0.0 {
        line["skipped_steps"] = serde_json::json!(r.stats.skipped);
    }
    if (epoch + 1).is_multiple_of(env.cfg.eval_every) || epoch + 1 == st.sc.epochs {
        let met = evaluate(m, &mut st.learn.loss, env.data, env.eval, env.pg)?;
        line["test"] = serde_json::json!({
            "top1": met.top1, "top5": met.top5, "many": met.many, "medium": met.medium, "few": met.few,
            "ece": met.ece, "mce": met.mce, "nll": met.nll });
        if met.top1 > book.best {
            book.best = met.top1;
            book.save(st, m, "best", epoch + 1)?;
        }
        book.last_metrics = Some(met);
    }
    if book.main {
        // One line per epoch, quiet or not (the bar is cleared).
        eprintln!(
            "{}",
            log::epoch_line(st.num, epoch + 1, st.sc.epochs, &line)
        );
    }
    book.log()?.line(&line)?;
    book.save(st, m, "last", epoch + 1)
}

/// The run's bookkeeping: where it writes, the best top-1 so far, the last metrics.
struct Book {
    run_dir: PathBuf,
    main: bool,
    resuming: bool,
    seed: u64,
    config_json: serde_json::Value,
    log: Option<log::Writes>,
    best: f64,
    last_metrics: Option<Metrics>,
    epochs_run: usize,
}

impl Book {
    fn new(cfg: &Config, main: bool, dir: &RunDir) -> Result<Self> {
        Ok(Book {
            run_dir: cfg.out.clone(),
            main,
            resuming: dir.resumes(),
            seed: cfg.seed,
            config_json: serde_json::to_value(cfg)?,
            log: None,
            best: f64::NEG_INFINITY,
            last_metrics: None,
            epochs_run: 0,
        })
    }

    /// (stage, completed epochs) to start from: the newest `last` checkpoint when resuming.
    fn resume_point(&mut self, dir: &RunDir) -> Result<(u32, usize)> {
        if !dir.resumes() {
            return Ok((1, 0));
        }
        for stage in [2u32, 1] {
            let p = checkpoint_path(&self.run_dir, stage, "last");
            if p.exists() {
                let ck = checkpoint::load(&p)?;
                self.best = ck.meta.best_top1.unwrap_or(f64::NEG_INFINITY);
                if self.main {
                    eprintln!("resuming stage {stage} at epoch {}", ck.meta.epoch);
                }
                return Ok((stage, ck.meta.epoch));
            }
        }
        Ok((1, 0))
    }

    fn open_log(&mut self) -> Result<()> {
        self.log = Some(log::Writes::new(self.main, &self.run_dir)?);
        Ok(())
    }

    fn log(&mut self) -> Result<&mut log::Writes> {
        self.log.as_mut().context("the run log is not open")
    }

    /// Writes checkpoint `stage{N}-{tag}` at `epoch` (main rank only).
    fn save(&mut self, st: &Stage, m: &mut Model, tag: &str, epoch: usize) -> Result<()> {
        let extra = m.extra()?;
        let meta = CheckpointMeta::new(
            epoch,
            st.num,
            self.seed,
            self.best.is_finite().then_some(self.best),
            self.config_json.clone(),
        );
        let path = checkpoint_path(&self.run_dir, st.num, tag);
        let optim = st.optim_state();
        self.log()?.checkpoint(&path, &m.vs, &extra, &optim, &meta)
    }
}

/// The end of a run: final metrics (evaluated now if no stage did), metrics.json and the
/// reliability diagram on the main rank.
fn finish(env: &Env, m: &mut Model, book: Book) -> Result<Summary> {
    let metrics = match book.last_metrics {
        Some(mm) => mm,
        None => evaluate(m, &mut LossFn::CrossEntropy, env.data, env.eval, env.pg)?,
    };
    let best = book.best;
    let run_dir = book.run_dir;
    if let Some(pg) = env.pg {
        pg.barrier()?;
    }
    if book.main {
        write_metrics(&metrics, best, env.cfg, &run_dir)?;
    }
    Ok(Summary {
        weights_crc: net::weights_crc(&m.vs)?,
        metrics,
        best_top1: best,
        run_dir,
    })
}

fn write_metrics(metrics: &Metrics, best: f64, cfg: &Config, run_dir: &Path) -> Result<()> {
    let mut out = serde_json::to_value(metrics)?;
    out["best_top1"] = serde_json::json!(best.is_finite().then_some(best));
    out["units"] = serde_json::json!({"top1": "percent", "top5": "percent", "many": "percent", "medium": "percent",
        "few": "percent", "ece": "percent (15 equal-width bins)", "mce": "percent", "nll": "nats per image"});
    if cfg.upper_top1 > 0.0 {
        out["relative_accuracy"] = serde_json::json!(metrics.top1 / cfg.upper_top1);
    }
    lt_data::manifest::write_atomic(
        &run_dir.join("metrics.json"),
        serde_json::to_string_pretty(&out)?.as_bytes(),
    )?;
    metrics::write_reliability_png(&metrics.bins, &run_dir.join("reliability.png"))?;
    Ok(())
}
