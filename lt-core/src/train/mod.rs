//! The trainer: one loop for every method. Stage 1 learns the representation; an optional
//! stage 2 (decoupled methods) freezes the backbone and re-trains the classifier with its own
//! sampler, loss and head. Methods plug in as samplers, losses and heads (see `plugin`).
//!
//! Determinism: tch, the loader and mixup are re-seeded from (seed, stage, epoch) at every
//! epoch start, so a run resumed from an epoch checkpoint continues exactly as if uninterrupted.

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::{Config, StageConfig};
use crate::dist::{GradSync, ProcessGroup};
use crate::metrics::{self, Evaluator, Metrics, Shot};
use crate::mixup::{self, Rng};
use crate::model::{self, Backbone, Head};
use crate::optim::{ParamGroup, Sgd, SgdConfig};
use crate::plugin::{
    DatasetInfo, Plugin, PluginHead, PluginLoss, PluginSampler, PluginSearch, StepCtx,
};
use crate::schedule::{Decay, Schedule};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lt_data::augment::Augment;
use lt_data::dataset::Dataset;
use lt_data::format::{Layout, Reader};
use lt_data::loader::{HeapAllocator, Loader, LoaderConfig};
use lt_data::manifest::Manifest;
use lt_data::sampler::{self, Sampler};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

mod run_dir;
use run_dir::RunDir;

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

/// Everything loaded once for the run.
struct Data {
    manifest: Manifest,
    train: Arc<Reader>,
    test: Arc<Reader>,
    groups: Vec<Shot>,
    in_channels: i64,
}

/// Opens the dataset with every check `lt-data verify` makes but the checksums (headers
/// against the manifest, splits against each other, normalisation and augmentation).
fn load_data(dir: &Path, eval_split: &str) -> Result<Data> {
    let d = Dataset::open(dir)?;
    let train = d.split("train")?.clone();
    let test = d.split(eval_split)?.clone();
    let manifest = d.manifest;
    let in_channels = match (train.layout(), manifest.augment.as_str()) {
        (Layout::Raw { channels, .. }, "cifar") => channels as i64,
        _ => 3,
    };
    let groups = manifest.groups.clone();
    Ok(Data {
        manifest,
        train,
        test,
        groups,
        in_channels,
    })
}

fn augment(m: &Manifest, train: bool) -> Result<Augment> {
    let three = |v: &[f32]| -> Result<[f32; 3]> {
        match v.len() {
            1 => Ok([v[0]; 3]),
            3 => Ok([v[0], v[1], v[2]]),
            n => bail!("dataset normalisation has {n} channels; 1 or 3 supported"),
        }
    };
    Ok(match m.augment.as_str() {
        "cifar" => Augment::cifar(train, three(&m.mean)?, three(&m.std)?),
        "imagenet" => {
            let mut a = Augment::imagenet(train);
            a.output = lt_data::augment::Output::Normalized {
                mean: three(&m.mean)?,
                std: three(&m.std)?,
            };
            a
        }
        other => bail!("unknown augmentation '{other}' in the dataset manifest"),
    })
}

/// Visits fixed indices in order (evaluation shards, feature extraction).
struct Indices(Vec<u32>);
impl Sampler for Indices {
    fn epoch_indices(&mut self, _: u64) -> Vec<u32> {
        self.0.clone()
    }
    fn name(&self) -> &str {
        "sequential"
    }
}

/// A plugin sampler behind the loader's trait; its first error is kept for the trainer.
struct FromPlugin {
    inner: PluginSampler,
    error: Arc<std::sync::Mutex<Option<String>>>,
}
impl Sampler for FromPlugin {
    fn epoch_indices(&mut self, epoch: u64) -> Vec<u32> {
        match self.inner.epoch_indices(epoch as u32) {
            Ok(v) => v,
            Err(e) => {
                *self.error.lock().unwrap() = Some(e.to_string());
                Vec::new()
            }
        }
    }
    fn name(&self) -> &str {
        "plugin"
    }
}

enum LossFn {
    CrossEntropy,
    Plugin(PluginLoss),
}

impl LossFn {
    fn forward(&mut self, logits: &Tensor, y: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        match self {
            LossFn::CrossEntropy => Ok(logits.log_softmax(-1, Kind::Float).nll_loss(y)),
            LossFn::Plugin(p) => Ok(p.forward(logits, y, ctx)?),
        }
    }
    fn adjust(&mut self, logits: Tensor) -> Result<Tensor> {
        match self {
            LossFn::Plugin(p) => Ok(p.adjust_logits(&logits)?.unwrap_or(logits)),
            LossFn::CrossEntropy => Ok(logits),
        }
    }
}

/// The loaded plugins; components are found by name across them (`plugin/name` to pick one).
struct Plugins(Vec<Plugin>);

impl Plugins {
    fn load(specs: &[String]) -> Result<Self> {
        let search = PluginSearch::from_env();
        Ok(Plugins(
            specs
                .iter()
                .map(|s| search.load(s))
                .collect::<Result<_, _>>()?,
        ))
    }

    fn find(&self, kind: crate::plugin::ComponentKind, spec: &str) -> Result<(&Plugin, String)> {
        let (want_plugin, name) = match spec.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, spec),
        };
        for p in &self.0 {
            if want_plugin.is_some_and(|w| w != p.info().name) {
                continue;
            }
            if p.info().names(kind).contains(&name) {
                return Ok((p, name.to_string()));
            }
        }
        let loaded: Vec<&str> = self.0.iter().map(|p| p.info().name.as_str()).collect();
        bail!(
            "no loaded plugin provides the {kind} '{spec}' (loaded: {}); use --plugin NAME",
            if loaded.is_empty() {
                "none".into()
            } else {
                loaded.join(", ")
            }
        )
    }
}

impl Plugins {
    /// The stage's loss: built-in cross-entropy, or a plugin's built with the stage's config.
    fn loss(&self, stage: u32, sc: &StageConfig, info: &DatasetInfo) -> Result<LossFn> {
        if sc.loss == "ce" {
            return Ok(LossFn::CrossEntropy);
        }
        let (p, name) = self.find(crate::plugin::ComponentKind::Loss, &sc.loss)?;
        let l = p.loss(&name, &json_of(&sc.loss_config), info);
        Ok(LossFn::Plugin(l.with_context(|| {
            format!("stage {stage} loss '{}'", sc.loss)
        })?))
    }

    /// The stage's plugin head; `None` for the built-in linear classifier.
    fn head(&self, stage: u32, sc: &StageConfig, info: &DatasetInfo) -> Result<Option<PluginHead>> {
        if sc.head == "linear" {
            return Ok(None);
        }
        let (p, name) = self.find(crate::plugin::ComponentKind::Head, &sc.head)?;
        let h = p.head(&name, &json_of(&sc.head_config), info);
        Ok(Some(h.with_context(|| {
            format!("stage {stage} head '{}'", sc.head)
        })?))
    }

    /// The stage's plugin sampler over `labels` (the caller handles the built-in names).
    fn sampler(
        &self,
        stage: u32,
        sc: &StageConfig,
        info: &DatasetInfo,
        labels: &[u32],
    ) -> Result<PluginSampler> {
        let (p, name) = self.find(crate::plugin::ComponentKind::Sampler, &sc.sampler)?;
        p.sampler(&name, &json_of(&sc.sampler_config), info, labels)
            .with_context(|| format!("stage {stage} sampler '{}'", sc.sampler))
    }
}

fn json_of(t: &toml::Table) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

/// The model, its device and its parameters' owner.
struct Model {
    vs: VarStore,
    backbone: Backbone,
    head: Head,
    plugin_head: Option<PluginHead>,
}

impl Model {
    fn logits(&mut self, features: &Tensor, train: bool) -> Result<Tensor> {
        match &mut self.plugin_head {
            Some(h) => Ok(h.forward(features, train)?),
            None => Ok(self.head.forward(features)),
        }
    }

    /// Tensors of the plugin head, for checkpoints.
    fn extra(&mut self) -> Result<Vec<(String, Tensor)>> {
        match &mut self.plugin_head {
            Some(h) => Ok(h
                .named_tensors()?
                .into_iter()
                .map(|n| (format!("head_plugin.{}", n.name), n.tensor))
                .collect()),
            None => Ok(Vec::new()),
        }
    }
}

fn epoch_seed(seed: u64, stage: u32, epoch: usize) -> i64 {
    let mut r = Rng::new(
        seed ^ ((stage as u64) << 48) ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    (r.next_u64() >> 2) as i64
}

fn schedule_of(s: &StageConfig) -> Schedule {
    let decay = match s.schedule.as_str() {
        "cosine" | "cosine-epoch" => Decay::Cosine { min_lr: 0.0 },
        "step" => {
            // Fractions of a short stage can land on the same epoch: the later factor wins.
            let mut f = 1.0;
            let mut milestones: Vec<(usize, f64)> = Vec::new();
            for m in &s.milestones {
                f *= s.gamma;
                let e = (m * s.epochs as f64).round() as usize;
                match milestones.last_mut() {
                    Some(last) if last.0 >= e => last.1 = f,
                    _ => milestones.push((e, f)),
                }
            }
            Decay::Step { milestones }
        }
        _ => Decay::Constant,
    };
    Schedule {
        base_lr: s.lr,
        epochs: s.epochs.max(1),
        warmup_epochs: s.warmup_epochs,
        decay,
    }
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
    let data = load_data(&cfg.dataset, &cfg.eval_split)
        .with_context(|| format!("dataset {}", cfg.dataset.display()))?;
    check_batch_sizes(cfg, data.train.len())?;
    let dir = RunDir::inspect(cfg, opts.resume)?;
    // Launched by torchrun or srun: join the process group (data-parallel training).
    let timeout = (cfg.dist_timeout > 0).then(|| std::time::Duration::from_secs(cfg.dist_timeout));
    let pg = ProcessGroup::from_env(timeout)?;
    let main = pg.as_ref().is_none_or(|p| p.is_main());
    let device = match (&pg, cfg.device.as_str()) {
        (Some(p), "auto") => p.device(),
        _ => crate::device::select(&cfg.device)?,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tch::set_num_threads(if cfg.threads == 0 { cores } else { cfg.threads } as i32);
    let run_dir = cfg.out.clone();
    let plugins = Plugins::load(&cfg.plugins)?;
    let k = data.manifest.num_classes as i64;
    let arch = if cfg.model.is_empty() {
        data.manifest.model.clone()
    } else {
        cfg.model.clone()
    };

    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(device);
    let (backbone, head) = model::build(&arch, &vs.root(), data.in_channels, k)?;
    let mut m = Model {
        vs,
        backbone,
        head,
        plugin_head: None,
    };
    if let Some(pg) = &pg {
        // Every rank starts from rank 0's weights and buffers.
        crate::dist::broadcast_parameters(pg, &sorted_variables(&m.vs))?;
    }
    let config_json = serde_json::to_value(cfg)?;

    // Where to start: the newest epoch checkpoint when resuming.
    let mut start = (1u32, 0usize);
    let mut best = f64::NEG_INFINITY;
    if dir.resumes() {
        for stage in [2u32, 1] {
            let p = checkpoint_path(&run_dir, stage, "last");
            if p.exists() {
                let ck = checkpoint::load(&p)?;
                start = (stage, ck.meta.epoch);
                best = ck.meta.best_top1.unwrap_or(f64::NEG_INFINITY);
                if main {
                    eprintln!("resuming stage {stage} at epoch {}", ck.meta.epoch);
                }
                break;
            }
        }
    }

    let stages: Vec<(u32, &StageConfig)> = std::iter::once((1u32, &cfg.stage1))
        .chain(cfg.stage2.iter().map(|s| (2u32, s)))
        .collect();
    let mut last_metrics = None;
    let mut epochs_run = 0usize;
    // A given stage-1 model replaces stage 1 (decoupled methods sharing one representation).
    if !cfg.init_checkpoint.as_os_str().is_empty() && start == (1, 0) {
        let ck = checkpoint::load(&cfg.init_checkpoint).context("init_checkpoint")?;
        ck.restore_varstore(&m.vs, "")?;
        start = (2, 0);
    }
    if main {
        dir.prepare(cfg, start)?;
    }
    let mut log = Writes::new(main, &run_dir)?;
    for &(stage, sc) in &stages {
        if stage < start.0 {
            continue;
        }
        let first_epoch = if stage == start.0 { start.1 } else { 0 };
        // Stage 2 starts from the model in memory: the end of stage 1 (or its resumed state).
        let info = DatasetInfo {
            num_classes: k as usize,
            class_counts: data.train.counts().iter().map(|&c| c as u64).collect(),
            feature_dim: m.backbone.feature_dim() as usize,
            seed: cfg.seed,
            device,
        };
        let mut loss = plugins.loss(stage, sc, &info)?;
        m.plugin_head = plugins.head(stage, sc, &info)?;
        if let Some(h) = &mut m.plugin_head {
            if h.wants_linear_init() {
                h.init_from_linear(&m.head.weight, Some(&m.head.bias))?;
            }
        }
        if let Some(h) = &mut m.plugin_head {
            if h.needs_fit() {
                let (f, y) = features(&mut m.backbone, &data.train, &data.manifest, cfg, device)?;
                h.fit(&f, &y)?;
            }
        }

        // Parameters and their groups.
        m.backbone.set_trainable(!sc.freeze_backbone);
        m.backbone.set_bn_eval(false);
        m.head.set_trainable(m.plugin_head.is_none());
        let mut groups = Vec::new();
        if !sc.freeze_backbone {
            groups.push(ParamGroup::new(
                "backbone",
                m.backbone.parameters(),
                sc.backbone_lr_factor,
                sc.weight_decay,
            ));
        }
        match &mut m.plugin_head {
            None => groups.push(ParamGroup::new(
                "head",
                m.head.parameters(),
                sc.head_lr_factor,
                sc.weight_decay,
            )),
            Some(h) => {
                for t in h.named_tensors()?.into_iter().filter(|t| t.trainable) {
                    let f = sc
                        .param_lr_factors
                        .get(&t.name)
                        .and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64)));
                    let name = format!("head_plugin.{}", t.name);
                    groups.push(ParamGroup::new(
                        &name,
                        vec![(name.clone(), t.tensor)],
                        f.unwrap_or(sc.head_lr_factor),
                        sc.weight_decay,
                    ));
                }
            }
        }
        let mut grad_sync = match &pg {
            Some(pg) => {
                let params: Vec<Tensor> = groups
                    .iter()
                    .flat_map(|g| g.params.iter().map(|(_, t)| t.shallow_clone()))
                    .collect();
                Some(GradSync::new(pg, &params)?)
            }
            None => None,
        };
        let mut opt = Sgd::new(
            groups,
            sc.lr,
            SgdConfig {
                momentum: sc.momentum,
                ..SgdConfig::default()
            },
        )?;
        let schedule = schedule_of(sc);
        schedule.validate()?;
        if dir.resumes() && stage == start.0 && first_epoch > 0 {
            let ck = checkpoint::load(&checkpoint_path(&run_dir, stage, "last"))?;
            ck.restore_varstore(&m.vs, "")?;
            let extra = m.extra()?;
            ck.restore_extra(&extra)?;
            opt.load_state_tensors(&ck.optim)?;
        }

        // The stage's sampler and loader.
        let labels = data.train.labels();
        let sampler_error = Arc::new(std::sync::Mutex::new(None));
        let mut samp: Box<dyn Sampler> = if sampler::NAMES.contains(&sc.sampler.as_str()) {
            sampler::by_name(
                &sc.sampler,
                labels,
                k as usize,
                cfg.seed ^ stage as u64,
                sc.epochs as u64,
            )?
        } else {
            Box::new(FromPlugin {
                inner: plugins.sampler(stage, sc, &info, labels)?,
                error: sampler_error.clone(),
            })
        };
        if sc.steps_per_epoch > 0 {
            samp = Box::new(Truncated {
                inner: samp,
                len: sc.steps_per_epoch * sc.batch_size * pg.as_ref().map_or(1, |p| p.world_size()),
            });
        }
        if let Some(pg) = &pg {
            samp = Box::new(sampler::Distributed::new(samp, pg.rank(), pg.world_size())?);
        }
        let threads = if cfg.loader_threads == 0 {
            cores
        } else {
            cfg.loader_threads
        };
        let lcfg = LoaderConfig {
            batch_size: sc.batch_size,
            threads,
            prefetch: 4,
            drop_last: false,
            aug: augment(&data.manifest, true)?,
            seed: cfg.seed ^ ((stage as u64) << 32),
        };
        let mut loader = Loader::new(data.train.clone(), samp, lcfg, Arc::new(HeapAllocator))?;

        for epoch in first_epoch..sc.epochs {
            if opts.stop_after_epochs.is_some_and(|n| epochs_run >= n) {
                bail!("stopped after {epochs_run} epochs as asked (--stop-after)");
            }
            tch::manual_seed(epoch_seed(cfg.seed, stage, epoch));
            let mut rng = Rng::for_epoch(cfg.seed ^ ((stage as u64) << 40), epoch as u64);
            if let LossFn::Plugin(p) = &mut loss {
                p.on_epoch(&StepCtx {
                    epoch: epoch as u32,
                    total_epochs: sc.epochs as u32,
                    stage,
                    step: 0,
                })?;
            }
            let it = loader.epoch(epoch as u64);
            let n_batches = it.num_batches();
            if n_batches == 0 {
                let e = sampler_error.lock().unwrap().clone();
                bail!(
                    "the {} sampler gave no samples{}",
                    sc.sampler,
                    e.map(|e| format!(": {e}")).unwrap_or_default()
                );
            }
            let bar = epoch_bar(n_batches as u64, opts.quiet, stage, epoch, sc.epochs);
            let t0 = Instant::now();
            let (mut seen, mut loss_sum, mut correct) = (0usize, 0.0f64, 0i64);
            for (i, batch) in it.enumerate() {
                let batch = batch?;
                if batch.len() < 2 {
                    continue; // batch norm cannot train on a single image
                }
                // "cosine-epoch" keeps each epoch's rate constant: the value at its first iteration.
                let iter = if sc.schedule == "cosine-epoch" { 0 } else { i };
                opt.set_lr(schedule.lr(epoch, iter, n_batches));
                let n = batch.len();
                let (x, y) = batch_tensor(&batch, device)?;
                let (x, ya, yb, lam) = mixup::mixup(&x, &y, sc.mixup_alpha, &mut rng)?;
                let ctx = StepCtx {
                    epoch: epoch as u32,
                    total_epochs: sc.epochs as u32,
                    stage,
                    step: (epoch * n_batches + i) as u64,
                };
                let amp = cfg.amp && device.is_cuda();
                let logits = tch::autocast(amp, || -> Result<Tensor> {
                    let feats = if sc.freeze_backbone {
                        tch::no_grad(|| m.backbone.forward_features(&x, sc.shift_bn))
                    } else {
                        m.backbone.forward_features(&x, true)
                    };
                    m.logits(&feats, true)
                })?
                .to_kind(Kind::Float);
                let mut l = loss.forward(&logits, &ya, &ctx)?;
                if lam < 1.0 {
                    l = l * lam + loss.forward(&logits, &yb, &ctx)? * (1.0 - lam);
                }
                opt.zero_grad();
                l.backward();
                if let (Some(gs), Some(pg)) = (&mut grad_sync, &pg) {
                    gs.sync(pg)?;
                }
                opt.step()?;
                let lv = l.double_value(&[]);
                if !lv.is_finite() {
                    bail!("loss became {lv} at stage {stage} epoch {epoch} step {i}; lower the learning rate");
                }
                seen += n;
                loss_sum += lv * n as f64;
                correct += logits
                    .argmax(-1, false)
                    .eq_tensor(&ya)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
                bar.inc(1);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}% {:.0} img/s",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    seen as f64 / t0.elapsed().as_secs_f64()
                ));
            }
            bar.finish_and_clear();
            if seen == 0 {
                bail!(
                    "stage{stage}: epoch {}: no batch was trained (every batch held fewer than 2 images)",
                    epoch + 1
                );
            }
            epochs_run += 1;
            let ips = seen as f64 / t0.elapsed().as_secs_f64();
            let last = epoch + 1 == sc.epochs;
            let mut line = serde_json::json!({
                "stage": stage, "epoch": epoch + 1, "train_loss": loss_sum / seen.max(1) as f64,
                "train_acc": 100.0 * correct as f64 / seen.max(1) as f64, "images_per_sec": ips, "lr": opt.lr(),
            });
            if (epoch + 1) % cfg.eval_every == 0 || last {
                let met = evaluate(&mut m, &mut loss, &data, cfg, device, pg.as_ref())?;
                line["test"] = serde_json::json!({
                    "top1": met.top1, "top5": met.top5, "many": met.many, "medium": met.medium, "few": met.few,
                    "ece": met.ece, "mce": met.mce, "nll": met.nll });
                if met.top1 > best {
                    best = met.top1;
                    let extra = m.extra()?;
                    let meta = CheckpointMeta::new(
                        epoch + 1,
                        stage,
                        cfg.seed,
                        Some(best),
                        config_json.clone(),
                    );
                    log.checkpoint(
                        &checkpoint_path(&run_dir, stage, "best"),
                        &m.vs,
                        &extra,
                        &opt.state_tensors(),
                        &meta,
                    )?;
                }
                last_metrics = Some(met);
            }
            if main {
                // One line per epoch, quiet or not (the bar above is cleared).
                eprintln!("{}", epoch_line(stage, epoch + 1, sc.epochs, &line));
            }
            log.line(&line)?;
            let extra = m.extra()?;
            let meta = CheckpointMeta::new(
                epoch + 1,
                stage,
                cfg.seed,
                best.is_finite().then_some(best),
                config_json.clone(),
            );
            log.checkpoint(
                &checkpoint_path(&run_dir, stage, "last"),
                &m.vs,
                &extra,
                &opt.state_tensors(),
                &meta,
            )?;
        }
        // A stage without epochs, or one a resumed run had finished: evaluate it as it is.
        if first_epoch >= sc.epochs {
            last_metrics = Some(evaluate(
                &mut m,
                &mut loss,
                &data,
                cfg,
                device,
                pg.as_ref(),
            )?);
        }
        let extra = m.extra()?;
        let meta = CheckpointMeta::new(
            sc.epochs,
            stage,
            cfg.seed,
            best.is_finite().then_some(best),
            config_json.clone(),
        );
        log.checkpoint(
            &checkpoint_path(&run_dir, stage, "final"),
            &m.vs,
            &extra,
            &opt.state_tensors(),
            &meta,
        )?;
    }

    let metrics = match last_metrics {
        Some(mm) => mm,
        None => {
            let mut loss = LossFn::CrossEntropy;
            evaluate(&mut m, &mut loss, &data, cfg, device, pg.as_ref())?
        }
    };
    if let Some(pg) = &pg {
        pg.barrier()?;
        if !main {
            let weights_crc = weights_crc(&m.vs)?;
            return Ok(Summary {
                metrics,
                best_top1: best,
                run_dir,
                weights_crc,
            });
        }
    }
    let mut out = serde_json::to_value(&metrics)?;
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
    let weights_crc = weights_crc(&m.vs)?;
    Ok(Summary {
        metrics,
        best_top1: best,
        run_dir,
        weights_crc,
    })
}

/// Caps an epoch at `len` samples (fixed steps per epoch, as class-aware samplers use).
struct Truncated {
    inner: Box<dyn Sampler>,
    len: usize,
}
impl Sampler for Truncated {
    fn epoch_indices(&mut self, epoch: u64) -> Vec<u32> {
        let mut v = self.inner.epoch_indices(epoch);
        if v.is_empty() {
            return v;
        }
        let base = v.len();
        while v.len() < self.len {
            v.push(v[v.len() % base]);
        }
        v.truncate(self.len);
        v
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// The line an epoch prints: its metrics.jsonl entry, with the test metrics when it has them.
fn epoch_line(stage: u32, epoch: usize, epochs: usize, entry: &serde_json::Value) -> String {
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

/// Refuses a stage whose batch is larger than the training split: such a batch could only be
/// padded by repetition, and the loader would allocate it whole.
fn check_batch_sizes(cfg: &Config, train_images: usize) -> Result<()> {
    let stages =
        std::iter::once(("stage1", &cfg.stage1)).chain(cfg.stage2.iter().map(|s| ("stage2", s)));
    for (name, sc) in stages {
        if sc.batch_size > train_images {
            bail!(
                "{name}.batch_size: {} exceeds the {train_images} training images of {}",
                sc.batch_size,
                cfg.dataset.display()
            );
        }
    }
    Ok(())
}

fn epoch_bar(len: u64, quiet: bool, stage: u32, epoch: usize, epochs: usize) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("stage {stage} epoch {}/{epochs}", epoch + 1));
    bar
}

fn eval_loader(
    reader: &Arc<Reader>,
    m: &Manifest,
    cfg: &Config,
    sampler: Box<dyn Sampler>,
) -> Result<Loader> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let lcfg = LoaderConfig {
        batch_size: 256,
        threads: if cfg.loader_threads == 0 {
            cores
        } else {
            cfg.loader_threads
        },
        prefetch: 4,
        drop_last: false,
        aug: augment(m, false)?,
        seed: cfg.seed,
    };
    Ok(Loader::new(
        reader.clone(),
        sampler,
        lcfg,
        Arc::new(HeapAllocator),
    )?)
}

fn batch_tensor(b: &lt_data::loader::Batch, device: Device) -> Result<(Tensor, Tensor)> {
    let [n, c, h, w] = b.shape;
    let x = crate::device::to_device(
        &b.images_f32().context("loader gave non-float images")?[..n * c * h * w],
        &[n as i64, c as i64, h as i64, w as i64],
        device,
    )?;
    Ok((x, Tensor::from_slice(&b.labels).to_device(device)))
}

/// Test-split metrics of the current model (BN in eval mode, no gradients). With a process
/// group each rank evaluates every world-th image and the per-image outcomes are summed across
/// ranks, so the metrics cover the whole test set on every rank.
fn evaluate(
    m: &mut Model,
    loss: &mut LossFn,
    data: &Data,
    cfg: &Config,
    device: Device,
    pg: Option<&ProcessGroup>,
) -> Result<Metrics> {
    let n = data.test.len();
    let (rank, world) = pg.map_or((0, 1), |p| (p.rank(), p.world_size()));
    if let Some(pg) = pg {
        // Evaluate rank 0's batch-norm statistics everywhere, as DDP's buffer broadcast does.
        let mut vars = sorted_variables(&m.vs);
        tch::no_grad(|| pg.broadcast(&mut vars, 0))?;
    }
    let shard: Vec<u32> = (rank..n).step_by(world).map(|i| i as u32).collect();
    let mut loader = eval_loader(
        &data.test,
        &data.manifest,
        cfg,
        Box::new(Indices(shard.clone())),
    )?;
    let mut ev = Evaluator::new(data.manifest.num_classes);
    for b in loader.epoch(0) {
        let b = b?;
        let (x, y) = batch_tensor(&b, device)?;
        let logits = tch::no_grad(|| -> Result<Tensor> {
            let f = m.backbone.forward_features(&x, false);
            m.logits(&f, false)
        })?;
        let logits = loss.adjust(logits)?;
        ev.add_logits(&logits, &y)?;
    }
    let Some(pg) = pg else {
        return ev.finish(Some(&data.groups));
    };
    // Outcomes of all ranks, each at its image's position, summed into one table.
    let mut table = vec![0f64; n * 5];
    for (s, &i) in ev.samples().iter().zip(&shard) {
        let row = &mut table[i as usize * 5..i as usize * 5 + 5];
        row.copy_from_slice(&[
            s.label as f64,
            s.pred as f64,
            s.top5 as u8 as f64,
            s.confidence,
            s.nll,
        ]);
    }
    let mut t = [Tensor::from_slice(&table)];
    pg.all_reduce_sum(&mut t)?;
    let table = Vec::<f64>::try_from(&t[0])?;
    let samples: Vec<metrics::Sample> = table
        .chunks(5)
        .map(|r| metrics::Sample {
            label: r[0] as i64,
            pred: r[1] as i64,
            top5: r[2] > 0.5,
            confidence: r[3],
            nll: r[4],
        })
        .collect();
    Metrics::compute(&samples, data.manifest.num_classes, Some(&data.groups))
}

fn weights_crc(vs: &VarStore) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    for t in sorted_variables(vs) {
        let v = Vec::<f32>::try_from(t.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?;
        for x in v {
            h.update(&x.to_le_bytes());
        }
    }
    Ok(h.finalize())
}

/// The VarStore's tensors in name order (the same order on every rank).
fn sorted_variables(vs: &VarStore) -> Vec<Tensor> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, t)| t).collect()
}

/// What only the main rank writes: the metrics log and checkpoints.
struct Writes {
    log: Option<std::fs::File>,
}

impl Writes {
    fn new(main: bool, run_dir: &Path) -> Result<Self> {
        let log = if main {
            let p = run_dir.join("metrics.jsonl");
            Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .with_context(|| format!("opening {}", p.display()))?,
            )
        } else {
            None
        };
        Ok(Writes { log })
    }
    fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        if let Some(f) = &mut self.log {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
    fn checkpoint(
        &self,
        path: &Path,
        vs: &VarStore,
        extra: &[(String, Tensor)],
        optim: &[(String, Tensor)],
        meta: &CheckpointMeta,
    ) -> Result<()> {
        if self.log.is_some() {
            checkpoint::save(path, vs, extra, optim, meta)?;
        }
        Ok(())
    }
}

/// Eval-mode features of a whole split (NCM class means, stage-2 fits).
fn features(
    backbone: &mut Backbone,
    reader: &Arc<Reader>,
    m: &Manifest,
    cfg: &Config,
    device: Device,
) -> Result<(Tensor, Tensor)> {
    let mut loader = eval_loader(
        reader,
        m,
        cfg,
        Box::new(Indices((0..reader.len() as u32).collect())),
    )?;
    let (mut fs, mut ys) = (Vec::new(), Vec::new());
    for b in loader.epoch(0) {
        let (x, y) = batch_tensor(&b?, device)?;
        fs.push(tch::no_grad(|| backbone.forward_features(&x, false)));
        ys.push(y);
    }
    Ok((Tensor::cat(&fs, 0), Tensor::cat(&ys, 0)))
}
