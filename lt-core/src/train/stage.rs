//! Building a training stage: its loss and head (built-in or a plugin's), parameter groups,
//! optimiser, learning-rate schedule, gradient scaler (fp16), gradient all-reduce (data
//! parallel), sampler, loader and the way its batches reach the device.

use super::batches::Transfer;
use super::components::{LossFn, Plugins};
use super::data::{self, Data, Which};
use super::device_aug::Finish;
use super::evaluate::{features, EvalInput};
use super::net::{self, Model};
use super::second::{self, SecondInput};
use crate::amp::{GradScaler, Precision};
use crate::checkpoint::Checkpoint;
use crate::config::{Config, StageConfig};
use crate::dist::{GradSync, ProcessGroup};
use crate::optim::ParamGroup;
use crate::optim::{Sgd, SgdConfig};
use crate::plugin::DatasetInfo;
use crate::schedule::{Decay, Schedule, ScheduleKind};
use crate::{Error, Result};
use lt_data::loader::Loader;
use tch::{Device, Tensor};

/// What a stage is run with, for every stage of the run.
pub(super) struct Env<'a> {
    pub cfg: &'a Config,
    pub data: &'a Data,
    pub plugins: &'a Plugins,
    pub pg: Option<&'a ProcessGroup>,
    pub device: Device,
    pub precision: Precision,
    pub eval: &'a EvalInput,
    pub quiet: bool,
    pub sync_debug: super::epoch::SyncDebug,
}

/// What a step updates: the loss (plugin losses keep state), the optimiser and its scaler,
/// the schedule, and the gradient all-reduce.
pub(super) struct Learner {
    pub loss: LossFn,
    pub opt: Sgd,
    pub scaler: Option<GradScaler>,
    pub schedule: Schedule,
    pub grad_sync: Option<GradSync>,
}

/// A stage ready to run its epochs.
pub(super) struct Stage<'a> {
    pub num: u32,
    pub sc: &'a StageConfig,
    pub learn: Learner,
    pub loader: Loader,
    pub transfer: Transfer,
    /// `sampler2`'s batches or second views, when the stage draws them.
    pub second: Option<SecondInput>,
}

/// Builds stage `num` on the model as it is (stage 2 starts from the end of stage 1).
pub(super) fn build<'a>(
    num: u32,
    sc: &'a StageConfig,
    env: &Env,
    m: &mut Model,
) -> Result<Stage<'a>> {
    let (cfg, data) = (env.cfg, env.data);
    let info = DatasetInfo {
        num_classes: data.manifest.num_classes,
        class_counts: data.train.counts().iter().map(|&c| c as u64).collect(),
        feature_dim: m.backbone.feature_dim() as usize,
        seed: cfg.seed,
        device: env.device,
    };
    let mut loss = env.plugins.loss(num, sc, &info)?;
    m.plugin_head = env.plugins.head(num, sc, &info)?;
    if let Some(mp) = &mut m.model_plugin {
        mp.begin_stage(num)?;
    }
    let second = second::plan(num, sc, &loss, m.model_plugin.as_ref())?;
    init_plugin_head(m, data, env.eval)?;
    let mut groups = m.stage_groups(sc)?;
    groups.extend(net::plugin_groups("loss_plugin", loss.tensors()?, sc)?);
    check_trains_something(num, sc, &groups)?;
    let grad_sync = grad_sync(env.pg, &groups)?;
    let opt = Sgd::new(
        groups,
        sc.lr,
        SgdConfig {
            momentum: sc.momentum,
            ..SgdConfig::default()
        },
    )?;
    let schedule = schedule_of(sc);
    schedule.validate()?;
    let sampler = data::stage_sampler(
        (num, sc, Which::First),
        cfg,
        data,
        env.plugins,
        &info,
        env.pg,
    )?;
    let full = data::augment(&data.manifest, true)?;
    let transfer = Transfer {
        device: env.device,
        finish: Finish::choose(cfg.augment_on_device, env.device, &data.manifest, &full)?,
        batch_size: sc.batch_size,
        seed: cfg.seed ^ ((num as u64) << 32),
    };
    let loader = data::loader(
        &data.train,
        sampler,
        full,
        &transfer.finish,
        (sc.batch_size, transfer.seed, data::loader_threads(cfg)),
        transfer.allocator(),
    )?;
    let second = match second {
        Some(kind) => Some(second::build((num, sc, kind), env, &info, &transfer)?),
        None => None,
    };
    Ok(Stage {
        num,
        sc,
        learn: Learner {
            loss,
            opt,
            scaler: (env.precision == Precision::Fp16).then(|| GradScaler::new(env.device)),
            schedule,
            grad_sync,
        },
        loader,
        transfer,
        second,
    })
}

/// The gradient all-reduce of a data-parallel run over every parameter the optimiser updates.
fn grad_sync(pg: Option<&ProcessGroup>, groups: &[ParamGroup]) -> Result<Option<GradSync>> {
    let Some(pg) = pg else {
        return Ok(None);
    };
    let params: Vec<Tensor> = groups
        .iter()
        .flat_map(|g| g.params.iter().map(|(_, t)| t.shallow_clone()))
        .collect();
    Ok(Some(GradSync::new(pg, &params)?))
}

/// Refuses a stage with epochs but no trainable tensor (a frozen backbone under a head with no
/// parameters, as tau-norm): its loss would have no gradient to follow.
fn check_trains_something(num: u32, sc: &StageConfig, groups: &[ParamGroup]) -> Result<()> {
    if sc.epochs == 0 || groups.iter().any(|g| !g.params.is_empty()) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "stage {num} has {} epochs but nothing to train (frozen backbone, head '{}' without trainable tensors); set stage{num}.epochs = 0 to evaluate it as it is",
        sc.epochs, sc.head
    )))
}

/// A plugin head that starts from the linear classifier, or is fitted on features.
fn init_plugin_head(m: &mut Model, data: &Data, eval: &EvalInput) -> Result<()> {
    let Some(h) = &mut m.plugin_head else {
        return Ok(());
    };
    if h.wants_linear_init() {
        h.init_from_linear(&m.head.weight, Some(&m.head.bias))?;
    }
    if h.needs_fit() {
        let (f, y) = features(m, &data.train, eval)?;
        if let Some(h) = &mut m.plugin_head {
            h.fit(&f, &y)?;
        }
    }
    Ok(())
}

impl Stage<'_> {
    /// The optimiser state a checkpoint keeps: momentum buffers and the loss scale.
    pub fn optim_state(&self) -> Vec<(String, Tensor)> {
        let mut v = self.learn.opt.state_tensors();
        if let Some(s) = &self.learn.scaler {
            v.extend(s.state_tensors());
        }
        v
    }

    /// The tensors a checkpoint keeps besides the VarStore: the plugin head's and model's, and
    /// the loss's own.
    pub fn extra(&mut self, m: &mut Model) -> Result<Vec<(String, Tensor)>> {
        let mut v = m.extra()?;
        v.extend(net::prefixed("loss_plugin", self.learn.loss.tensors()?));
        Ok(v)
    }

    /// Continues from a `last` checkpoint of this stage: weights, plugin tensors, optimiser.
    pub fn restore(&mut self, ck: &Checkpoint, m: &mut Model) -> Result<()> {
        ck.restore_varstore(&m.vs, "")?;
        let extra = self.extra(m)?;
        ck.restore_extra(&extra)?;
        self.learn.opt.load_state_tensors(&ck.optim)?;
        if let Some(s) = &mut self.learn.scaler {
            s.load_state_tensors(&ck.optim)?;
        }
        Ok(())
    }
}

/// The stage's learning-rate schedule.
fn schedule_of(s: &StageConfig) -> Schedule {
    let decay = match s.schedule {
        ScheduleKind::Cosine | ScheduleKind::CosineEpoch => Decay::Cosine { min_lr: 0.0 },
        ScheduleKind::Step => {
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
        ScheduleKind::Constant => Decay::Constant,
    };
    Schedule {
        base_lr: s.lr,
        epochs: s.epochs.max(1),
        warmup_epochs: s.warmup_epochs,
        decay,
    }
}
