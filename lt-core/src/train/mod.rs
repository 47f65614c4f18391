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

mod adapt;
mod batches;
mod book;
mod check;
mod clock;
mod components;
mod csv;
mod data;
mod device_aug;
mod epoch;
mod evaluate;
mod forward;
mod log;
mod net;
mod progress;
mod restore;
mod run;
mod run_dir;
mod second;
mod stage;
mod stats;

pub use check::check;
pub use restore::{Restore, Trained};
pub use run::{run, RunOptions, Summary};
pub use run_dir::check_resumable;

use std::path::{Path, PathBuf};

/// Where the checkpoints of a run live.
pub fn checkpoint_path(run: &Path, stage: u32, tag: &str) -> PathBuf {
    run.join("checkpoints")
        .join(format!("stage{stage}-{tag}.safetensors"))
}
