//! One training epoch. Inside a step nothing is read back to the host: the loss, the correct
//! count and the non-finite flags accumulate on the device (`stats`) and are read every
//! `sync_every` steps (or about once a second) and at the end of the epoch; a non-finite loss
//! is reported at the read that sees it.

use super::batches::DeviceBatch;
use super::components::LossFn;
use super::forward::{Outputs, Second};
use super::net::Model;
use super::progress;
use super::second;
use super::stage::{Env, Learner, Stage};
use super::stats::{DeviceStats, ReadEvery, Snapshot};
use crate::amp::Precision;
use crate::config::StageConfig;
use crate::cuda;
use crate::mixup;
use crate::plugin::StepCtx;
use crate::{Error, Result};
use lt_data::rng::{streams, Rng, Xoshiro256};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// What an epoch did.
pub(super) struct EpochReport {
    pub stats: Snapshot,
    pub seconds: f64,
    /// Host reads of the device statistics during the epoch.
    pub reads: usize,
    pub steps: usize,
    /// Seconds the step loop waited for the loader's next batch.
    pub data_wait: f64,
}

impl EpochReport {
    pub fn images_per_sec(&self) -> f64 {
        self.stats.seen as f64 / self.seconds.max(1e-9)
    }
}

/// Trains epoch `epoch` (0-based) of the stage.
pub(super) fn run_epoch(
    st: &mut Stage,
    m: &mut Model,
    epoch: usize,
    env: &Env,
) -> Result<EpochReport> {
    let (num, sc) = (st.num, st.sc);
    tch::manual_seed(streams::torch_epoch_seed(env.cfg.seed, num, epoch as u64));
    let mut rng = streams::mixup_epoch(env.cfg.seed, num, epoch as u64);
    st.learn.loss.on_epoch(&ctx((num, sc), epoch, 0))?;
    if let Some(mp) = &mut m.model_plugin {
        mp.on_epoch(&ctx((num, sc), epoch, 0))?;
    }
    let (mut batches, n_batches) = second::epoch_batches(
        (&mut st.loader, &st.transfer),
        st.second.as_mut(),
        sc,
        epoch,
    )?;
    let show = !env.quiet && env.pg.is_none_or(|p| p.is_main());
    let prefix = format!("stage {num} epoch {}/{}", epoch + 1, sc.epochs);
    let bar = progress::bar(n_batches as u64, show, prefix);
    let t0 = Instant::now();
    let mut stats = DeviceStats::new(env.device);
    let mut every = ReadEvery::new(env.cfg.sync_every);
    let debug = &env.sync_debug;
    let mut steps = 0;
    debug.on()?;
    for (i, pair) in batches.by_ref().take(n_batches).enumerate() {
        let (b, b2) = pair?;
        if b.n < 2 || b2.as_ref().is_some_and(|(b2, _)| b2.n != b.n) {
            continue; // batch norm cannot train on a single image; halves must pair up
        }
        let at = (epoch, i, n_batches);
        let inputs = (&b, b2.as_ref().map(|(b2, k)| (b2, *k)));
        let (loss, logits, y) = step(&mut st.learn, (num, sc), m, inputs, at, &mut rng, env)?;
        let skipped = st.learn.scaler.as_ref().map(|s| s.found_inf());
        stats.add(&loss, &logits, &y, b.n, skipped)?;
        steps += 1;
        bar.inc(1);
        if every.due(i) {
            let s = debug.off_during(|| stats.read())?;
            check_finite(&s, env.precision, num, epoch)?;
            bar.set_message(bar_message(&s, t0));
        }
    }
    debug.off()?;
    let data_wait = batches.waited().as_secs_f64();
    let s = stats.read()?;
    bar.finish_and_clear();
    check_finite(&s, env.precision, num, epoch)?;
    if s.seen == 0 {
        return Err(Error::Training(format!(
            "stage{num}: epoch {}: no batch was trained (every batch held fewer than 2 images)",
            epoch + 1
        )));
    }
    Ok(EpochReport {
        stats: s,
        seconds: t0.elapsed().as_secs_f64(),
        reads: stats.reads(),
        steps,
        data_wait,
    })
}

fn ctx((num, sc): (u32, &StageConfig), epoch: usize, step: u64) -> StepCtx {
    StepCtx {
        epoch: epoch as u32,
        total_epochs: sc.epochs as u32,
        stage: num,
        step,
    }
}

/// One optimisation step on a batch (and its second batch or view); returns the
/// (mixup-weighted) loss, the logits and the labels accuracy is counted against, all still on
/// the device.
fn step(
    st: &mut Learner,
    (num, sc): (u32, &StageConfig),
    m: &mut Model,
    (b, b2): (&DeviceBatch, Option<(&DeviceBatch, Second)>),
    (epoch, i, n_batches): (usize, usize, usize),
    rng: &mut Rng<Xoshiro256>,
    env: &Env,
) -> Result<(Tensor, Tensor, Tensor)> {
    let iter = sc.schedule.rate_iteration(i);
    st.opt.set_lr(st.schedule.lr(epoch, iter, n_batches));
    let (x, ya, yb, lam) = mixup::mixup(&b.x, &b.y, sc.mixup_alpha, rng)?;
    let c = ctx((num, sc), epoch, (epoch * n_batches + i) as u64);
    let second = b2.map(|(b2, k)| (&b2.x, k));
    let out = env
        .precision
        .autocast(env.device, || m.train_forward((&x, &ya), second, sc, &c))??;
    let y2 = b2.map(|(b2, _)| &b2.y);
    let mut l = loss_of(&mut st.loss, &out, (&ya, y2), m, &c)?;
    if let (Some(a), true) = (&l, lam < 1.0) {
        let b = loss_of(&mut st.loss, &out, (&yb, y2), m, &c)?;
        let mixed = b.map(|b| a * lam + b * (1.0 - lam));
        l = mixed;
    }
    let l = with_model_loss(l, &out, num, m)?;
    let logits = out.logits;
    st.opt.zero_grad()?;
    match &st.scaler {
        Some(s) => s.scale(&l)?.f_backward()?,
        None => l.f_backward()?,
    }
    if let (Some(gs), Some(pg)) = (&mut st.grad_sync, env.pg) {
        gs.sync(pg)?;
    }
    match &mut st.scaler {
        Some(s) => s.step(&mut st.opt)?,
        None => st.opt.step()?,
    }
    Ok((l, logits, ya))
}

/// The stage's loss of a forward's outputs against `y` (and the second batch's labels);
/// `None` for `loss = "none"`.
fn loss_of(
    loss: &mut LossFn,
    out: &Outputs,
    (y, y2): (&Tensor, Option<&Tensor>),
    m: &Model,
    c: &StepCtx,
) -> Result<Option<Tensor>> {
    Ok(Some(match loss {
        LossFn::None => return Ok(None),
        LossFn::CrossEntropy => out.logits.log_softmax(-1, Kind::Float).nll_loss(y),
        LossFn::Plugin(p) => p.forward(&out.logits, y, c)?,
        LossFn::Feature(p) => {
            let w = p.needs().head_weight.then_some(&m.head.weight);
            p.forward(&out.args(y, y2, w), c)?
        }
    }))
}

/// The stage's loss plus the model plugin's own term; an error when neither exists.
fn with_model_loss(l: Option<Tensor>, out: &Outputs, num: u32, m: &Model) -> Result<Tensor> {
    match (l, &out.model_loss) {
        (Some(l), Some(ml)) => Ok(l + ml),
        (Some(l), None) => Ok(l),
        (None, Some(ml)) => Ok(ml.shallow_clone()),
        (None, None) => Err(Error::Training(format!(
            "stage {num}: loss = \"none\", and model '{}' returned no loss term in this stage",
            m.model_plugin.as_ref().map_or("", |p| p.name())
        ))),
    }
}

/// A non-finite loss stops the run, except under fp16 where the scaler skips such steps.
fn check_finite(s: &Snapshot, precision: Precision, stage: u32, epoch: usize) -> Result<()> {
    if s.nonfinite > 0.0 && precision != Precision::Fp16 {
        return Err(Error::Training(format!(
            "loss became inf or NaN in {} step(s) of stage {stage} epoch {}; lower the learning rate",
            s.nonfinite,
            epoch + 1
        )));
    }
    Ok(())
}

/// CUDA's sync-debug mode for the steps of an epoch, from `LT_CUDA_SYNC_DEBUG` (`warn` or
/// `error`): any call inside a step that makes the host wait for the device warns or fails.
/// The statistics reads, which wait by design, run with it off. (scripts/gpu-check.sh trains
/// with `error`.)
pub(super) struct SyncDebug(i32);

impl SyncDebug {
    pub fn from_env(device: Device) -> Result<Self> {
        let mode = match std::env::var("LT_CUDA_SYNC_DEBUG").as_deref() {
            Err(_) | Ok("") | Ok("off") => 0,
            Ok("warn") => 1,
            Ok("error") => 2,
            Ok(other) => {
                return Err(Error::Cuda(format!(
                    "LT_CUDA_SYNC_DEBUG must be off, warn or error, got '{other}'"
                )))
            }
        };
        Ok(SyncDebug(if device.is_cuda() { mode } else { 0 }))
    }
    fn on(&self) -> Result<()> {
        if self.0 != 0 {
            cuda::set_sync_debug(self.0)?;
        }
        Ok(())
    }
    fn off(&self) -> Result<()> {
        if self.0 != 0 {
            cuda::set_sync_debug(0)?;
        }
        Ok(())
    }
    fn off_during<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.off()?;
        let r = f();
        self.on()?;
        r
    }
}

fn bar_message(s: &Snapshot, t0: Instant) -> String {
    let seen = s.seen.max(1) as f64;
    format!(
        "loss {:.4} acc {:.2}% {:.0} img/s",
        s.loss_sum / seen,
        100.0 * s.correct / seen,
        s.seen as f64 / t0.elapsed().as_secs_f64()
    )
}
