//! The whole run's settings ([`Config`]) and the checks the types cannot make.

use super::StageConfig;
use crate::model::Arch;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

string_enum! {
    /// Where the end of the augmentation runs (`augment_on_device`).
    pub enum AugmentOnDevice {
        /// The device on CUDA (the copy and the host threads are the bottleneck there), the
        /// loader threads on the CPU (they work beside the step).
        Auto = "auto",
        /// The device: batches cross as uint8; CIFAR crop/flip and the normalisation run there.
        On = "on",
        /// The host: batches cross normalised.
        Off = "off",
    }
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Dataset directory built by `lt-data build`.
    pub dataset: PathBuf,
    /// Run directory: metrics, plots, checkpoints.
    pub out: PathBuf,
    /// Backbone (`model = "resnet32"`); `""` (None): the dataset's recipe model.
    #[serde(with = "crate::names::empty_is_none")]
    pub model: Option<Arch>,
    pub seed: u64,
    /// "auto", "cpu", "cuda", "cuda:N".
    pub device: String,
    /// libtorch intra-op threads; 0: all cores.
    pub threads: usize,
    /// Loader worker threads; 0: all cores.
    pub loader_threads: usize,
    /// Evaluate on the test split every N epochs (and always after the last).
    pub eval_every: usize,
    /// Mixed precision: "off" (float32, the papers' setting), "bf16", or "fp16" (with a
    /// dynamic loss scaler).
    pub amp: crate::amp::Precision,
    /// Convolution weights and inputs in channels-last memory format (tensor cores on CUDA).
    pub channels_last: bool,
    /// Where the end of the augmentation runs: "auto" (the device on CUDA, the loader threads
    /// on the CPU), "on" (the device: batches cross as uint8, CIFAR crop/flip and the
    /// normalisation run there) or "off" (the host: batches cross normalised).
    pub augment_on_device: AugmentOnDevice,
    /// Steps between reads of the training statistics from the device (the only host
    /// synchronisation of an epoch besides its end); 0: about once a second.
    pub sync_every: usize,
    /// Plugins to load (names or paths).
    pub plugins: Vec<String>,
    /// Upper reference top-1 A_u for relative accuracy (100 A_t / A_u, percent), percent; 0:
    /// none (see [`crate::metrics::relative`]).
    pub upper_top1: f64,
    /// Runs (or `--seeds` directories) whose best top-1 is the upper reference A_u (the survey's
    /// max of vanilla CE and the method, both trained on the balanced reference split); empty:
    /// `upper_top1`.
    #[serde(default)]
    pub upper_from: Vec<PathBuf>,
    /// Split evaluated during and after training: "test", or "val" to tune hyper-parameters
    /// (tau-norm's tau, logit adjustment's tau) without touching the test set.
    pub eval_split: String,
    /// Splits the final evaluation covers, one metrics block each (SADE's test-agnostic
    /// protocol: `["test", "test-fwd-50", "test-bwd-50"]`); empty: `eval_split` only.
    #[serde(default)]
    pub eval_splits: Vec<String>,
    /// A plugin's model component (several branches on a shared trunk: `"ride"`, or
    /// `"plugin/name"`); `""` (None): the backbone and one head.
    #[serde(default, with = "crate::names::empty_is_none")]
    pub model_plugin: Option<String>,
    /// Configuration handed to the model component.
    #[serde(default)]
    pub model_plugin_config: toml::Table,
    /// A stage-1 checkpoint to start stage 2 from, skipping stage 1; `""` (None): none.
    #[serde(with = "crate::names::empty_is_none")]
    pub init_checkpoint: Option<PathBuf>,
    /// A safetensors state dict loaded into a fresh run's model before stage 1 (torchvision,
    /// MiSLAS/LDAM-DRW CIFAR or lt-train names; the head only when its shape fits the classes);
    /// `""` (None): none. Not with `init_checkpoint`, which replaces stage 1.
    #[serde(default, with = "crate::names::empty_is_none")]
    pub init_backbone: Option<PathBuf>,
    /// Distributed rendezvous and collective timeout, seconds; 0: `LT_DIST_TIMEOUT` or 300.
    pub dist_timeout: u64,
    pub stage1: StageConfig,
    /// Present for two-stage (decoupled) methods.
    pub stage2: Option<StageConfig>,
}

impl Config {
    /// Checks what the types cannot say; [`Builder::build`] and the trainer call it.
    pub fn validate(&self) -> Result<()> {
        if self.dataset.as_os_str().is_empty() {
            return Err(Error::Config(
                "no dataset: give --dataset DIR (built with lt-data build)".into(),
            ));
        }
        self.stage1.validate("stage1")?;
        if let Some(s) = &self.stage2 {
            s.validate("stage2")?;
        }
        if self.eval_every == 0 {
            return Err(Error::Config("eval_every must be at least 1".into()));
        }
        if self.init_checkpoint.is_some() && self.stage2.is_none() {
            return Err(Error::Config(
                "init_checkpoint: it replaces stage 1, so a stage 2 is needed".into(),
            ));
        }
        if self.eval_splits.iter().any(|s| s.is_empty()) {
            return Err(Error::Config("eval_splits: a split name is empty".into()));
        }
        self.validate_upper()?;
        if self.init_backbone.is_some() && self.init_checkpoint.is_some() {
            return Err(Error::Config(
                "init_backbone and init_checkpoint: give one (init_checkpoint skips stage 1)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The upper reference of relative accuracy: one way of giving it, of the test split.
    fn validate_upper(&self) -> Result<()> {
        if !self.upper_top1.is_finite() || self.upper_top1 < 0.0 {
            return Err(Error::Config(format!(
                "upper_top1: must be a top-1 in percent (> 0), or 0 for none; got {}",
                self.upper_top1
            )));
        }
        let given = self.upper_top1 > 0.0 || !self.upper_from.is_empty();
        if self.upper_top1 > 0.0 && !self.upper_from.is_empty() {
            return Err(Error::Config(
                "upper_top1 and upper_from: give one upper reference".into(),
            ));
        }
        if given && self.eval_split != "test" {
            return Err(Error::Config(format!(
                "upper_top1/upper_from: relative accuracy is of the balanced test split, but eval_split is '{}'",
                self.eval_split
            )));
        }
        Ok(())
    }

    /// The configuration as TOML (for `--print-config` and checkpoints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }
}
