//! A training run from start to end: the dataset, the process group, the model, each stage's
//! epochs with their lines and checkpoints, and the final metrics.

use super::book::{self, Book};
use super::clock::{self, RunClock};
use super::components::{LossFn, Plugins};
use super::data::{self, Data};
use super::epoch::{self, EpochReport};
use super::evaluate::{evaluate, evaluate_split, EvalInput};
use super::net::{self, Model};
use super::run_dir::RunDir;
use super::stage::{self, Env, Stage};
use super::{checkpoint_path, log};
use crate::checkpoint;
use crate::config::{Config, StageConfig};
use crate::dist::ProcessGroup;
use crate::metrics::{Metrics, UpperReference};
use crate::model::Arch;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use tch::{nn::VarStore, Device};

/// What a finished run reports.
#[derive(Debug)]
pub struct Summary {
    pub metrics: Metrics,
    pub best_top1: f64,
    pub run_dir: PathBuf,
    /// 100 top-1 / A_u, when the configuration gives an upper reference (`metrics.json`'s
    /// `relative_accuracy`).
    pub relative_accuracy: Option<f64>,
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

/// Trains and evaluates as `cfg` says; writes metrics, plots and checkpoints under `cfg.out`.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<Summary> {
    let started = Instant::now();
    cfg.validate()?;
    // The upper reference's runs are read first, so that a missing one stops the run before
    // anything is written.
    let upper = UpperReference::of_config(cfg)?;
    let data =
        data::load_data(&cfg.dataset, &cfg.eval_split, &cfg.eval_splits).map_err(|source| {
            Error::Dataset {
                path: cfg.dataset.clone(),
                source,
            }
        })?;
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
    let resumed = book::resume_point(cfg, main, &dir)?;
    // A fresh run starts from init_backbone's weights (validate refuses it with init_checkpoint).
    let init = cfg
        .init_backbone
        .as_deref()
        .filter(|_| resumed.start == (1, 0));
    let mut m = build_model(cfg, (&data, &plugins), device, pg.as_ref(), init)?;
    let mut start = resumed.start;
    // A given stage-1 model replaces stage 1 (decoupled methods sharing one representation).
    if let (Some(init), (1, 0)) = (&cfg.init_checkpoint, start) {
        let ck = checkpoint::load(init).map_err(|e| Error::InitCheckpoint(Box::new(e)))?;
        ck.restore_varstore(&m.vs, "")?;
        restore_model_plugin(&ck, &mut m, main)?;
        start = (2, 0);
    }
    let before = if main { dir.prepare(cfg, start)? } else { 0.0 };
    let clock = RunClock::new(started, before);
    let mut book = Book::new(cfg, main, &dir, resumed.best, clock)?;
    book.upper = upper;
    let eval = EvalInput::new(&data.manifest, cfg, device, !opts.quiet && main)?;
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
    let mut loss = LossFn::CrossEntropy;
    for (num, sc) in stages.filter(|(n, _)| *n >= start.0) {
        let first = if num == start.0 { start.1 } else { 0 };
        loss = run_stage(num, sc, first, &env, &mut m, &mut book, opts)?;
    }
    finish(&env, &mut m, book, loss)
}

/// The model plugin's tensors from a stage-1 checkpoint (its experts' classifiers); those the
/// checkpoint lacks (a router added after stage 1) keep their initial values, with a notice.
fn restore_model_plugin(ck: &checkpoint::Checkpoint, m: &mut Model, main: bool) -> Result<()> {
    let Some(mp) = &mut m.model_plugin else {
        return Ok(());
    };
    let tensors = super::net::prefixed("model_plugin", mp.named_tensors()?);
    let missing = ck
        .restore_extra_present(&tensors)
        .map_err(|e| Error::InitCheckpoint(Box::new(e)))?;
    if main && !missing.is_empty() {
        eprintln!(
            "init_checkpoint: {} tensor(s) of model '{}' not in the checkpoint, initialised fresh: {}",
            missing.len(),
            mp.name(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// The network of the run, with `init`'s weights when given, every rank starting from rank 0's
/// weights.
pub(super) fn build_model(
    cfg: &Config,
    (data, plugins): (&Data, &Plugins),
    device: Device,
    pg: Option<&ProcessGroup>,
    init: Option<&Path>,
) -> Result<Model> {
    let k = data.manifest.num_classes as i64;
    let arch = match cfg.model {
        Some(a) => a,
        None => recipe_arch(&data.manifest.model)?,
    };
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(device);
    let (backbone, head) = crate::model::build(arch, &vs.root(), data.in_channels, k)?;
    let mut m = Model {
        vs,
        backbone,
        head,
        plugin_head: None,
        model_plugin: None,
    };
    if let Some(file) = init {
        let report =
            crate::weights::init_backbone(file, &m.vs, arch.name()).map_err(Error::InitBackbone)?;
        if let Some(notice) = report.notice().filter(|_| pg.is_none_or(|p| p.is_main())) {
            eprintln!("{notice}");
        }
    }
    add_model_plugin(cfg, &mut m, data, plugins, device)?;
    if cfg.channels_last {
        m.backbone.set_channels_last(true)?;
    }
    if let Some(pg) = pg {
        crate::dist::broadcast_parameters(pg, &net::sorted_variables(&m.vs))?;
    }
    Ok(m)
}

/// The run's model plugin and the backbone branches it asks for (fresh copies of the last
/// stage, after `init_backbone`'s weights, which have none).
fn add_model_plugin(
    cfg: &Config,
    m: &mut Model,
    data: &Data,
    plugins: &Plugins,
    device: Device,
) -> Result<()> {
    let info = crate::plugin::DatasetInfo {
        num_classes: data.manifest.num_classes,
        class_counts: data.train.counts().iter().map(|&c| c as u64).collect(),
        feature_dim: m.backbone.feature_dim() as usize,
        seed: cfg.seed,
        device,
    };
    let Some(mp) = plugins.model(cfg, &info)? else {
        return Ok(());
    };
    m.backbone
        .add_branches(&(m.vs.root() / "backbone"), mp.branches())?;
    m.model_plugin = Some(mp);
    Ok(())
}

/// The architecture a dataset's manifest names (its recipe's model), read where it is used.
fn recipe_arch(name: &str) -> Result<Arch> {
    name.parse().map_err(|e| Error::Build {
        part: "model",
        arch: name.to_string(),
        source: Box::new(Error::Model(e)),
    })
}

/// Runs stage `num` from epoch `first` (0 unless resuming) to its end; returns its loss (whose
/// post-hoc adjustment the final evaluation applies).
fn run_stage(
    num: u32,
    sc: &StageConfig,
    first: usize,
    env: &Env,
    m: &mut Model,
    book: &mut Book,
    opts: &RunOptions,
) -> Result<LossFn> {
    let mut st = stage::build(num, sc, env, m)?;
    if book.resuming && first > 0 {
        let ck = checkpoint::load(&checkpoint_path(&book.run_dir, num, "last"))?;
        st.restore(&ck, m)?;
    }
    for epoch in first..sc.epochs {
        if opts.stop_after_epochs.is_some_and(|n| book.epochs_run >= n) {
            return Err(Error::Training(format!(
                "stopped after {} epochs as asked (--stop-after)",
                book.epochs_run
            )));
        }
        let report = epoch::run_epoch(&mut st, m, epoch, env)?;
        book.epochs_run += 1;
        record_epoch(&mut st, m, epoch, &report, env, book)?;
    }
    // A stage without epochs, or one a resumed run had finished: evaluate it as it is.
    if first >= sc.epochs {
        book.last_metrics = Some(evaluate(m, &mut st.learn.loss, env.data, env.eval, env.pg)?);
    }
    book.save(&mut st, m, "final", sc.epochs)?;
    Ok(st.learn.loss)
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
        if let Some(b) = met.branches_per_image {
            line["test"]["branches_per_image"] = serde_json::json!(b);
        }
        if met.top1 > book.best {
            book.best = met.top1;
            book.save(st, m, "best", epoch + 1)?;
        }
        book.last_metrics = Some(met);
    }
    line["time"] = serde_json::json!(clock::rfc3339(SystemTime::now()));
    line["elapsed_s"] = serde_json::json!((book.clock.elapsed() * 1000.0).round() / 1000.0);
    book.clock.epoch_done();
    if book.main {
        // One line per epoch, quiet or not (the bar is cleared).
        let at = (st.num, epoch + 1, st.sc.epochs);
        let eta = book.clock.eta(epochs_left(env.cfg, at));
        eprintln!("{}", log::epoch_line(at, &line, eta));
    }
    book.log.line(&line)?;
    book.save(st, m, "last", epoch + 1)
}

/// Epochs the run has left after epoch `done` of `epochs` in stage `num` (stage 2's included).
fn epochs_left(cfg: &Config, (num, done, epochs): (u32, usize, usize)) -> usize {
    let later = match num {
        1 => cfg.stage2.as_ref().map_or(0, |s| s.epochs),
        _ => 0,
    };
    epochs - done + later
}

/// The end of a run: final metrics (evaluated now if no stage did, or if the model adapts at
/// test time), one block per `eval_splits` entry, metrics.json and the plots on the main rank.
fn finish(env: &Env, m: &mut Model, book: Book, mut loss: LossFn) -> Result<Summary> {
    let adapts = m
        .model_plugin
        .as_ref()
        .is_some_and(|p| p.adapt_epochs() > 0);
    let metrics = match book.last_metrics {
        Some(mm) if !adapts => mm,
        _ => evaluate_split(
            m,
            &mut loss,
            (env.data, &env.data.test),
            env.eval,
            env.pg,
            true,
        )?,
    };
    let mut splits = Vec::new();
    for (name, reader) in &env.data.splits {
        let s = evaluate_split(m, &mut loss, (env.data, reader), env.eval, env.pg, true)?;
        if book.main {
            eprintln!("{}", log::split_line(name, &s));
        }
        splits.push((name.clone(), s));
    }
    let best = book.best;
    let run_dir = book.run_dir;
    if let Some(pg) = env.pg {
        pg.barrier()?;
    }
    let upper = book.upper.as_ref();
    if book.main {
        book::write_metrics((&metrics, &splits), best, upper, env.data, &run_dir)?;
    }
    Ok(Summary {
        weights_crc: net::weights_crc(&m.vs)?,
        relative_accuracy: upper.map(|u| u.relative(metrics.top1)),
        metrics,
        best_top1: best,
        run_dir,
    })
}
