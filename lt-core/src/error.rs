//! One error type for the training side. Every message is one line that says what failed and
//! where (the configuration key, the file, the stage, the tensor), so `lt-train` prints
//! `lt-train: MESSAGE` and nothing else.
//!
//! A variant that wraps another error prints `context: inner` and also returns the inner error
//! from `source()`; printers that walk the chain (lt-train's `one_line`) drop a cause whose
//! text its parent already ends with.

use crate::dist::DistError;
use crate::ops::OpsError;
use crate::plugin::PluginError;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in lt-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration layer, key or value that cannot be used; the message names the layer
    /// or the key (`--set stage1.lr: invalid type ...`, `stage1.batch_size: must be ...`).
    #[error("{0}")]
    Config(String),
    /// An operating-system error, after what was being done (usually the path).
    #[error("{what}: {err}")]
    Io {
        what: String,
        // Not `source`: the message carries it already (see the module doc).
        err: std::io::Error,
    },
    /// An operating-system error whose message stands alone (a metrics line that could not be
    /// appended to the open log).
    #[error(transparent)]
    Os(std::io::Error),
    /// A checkpoint that is not one, or whose tensors do not fit the model or optimiser.
    #[error("{0}")]
    Checkpoint(String),
    /// Reading or writing a checkpoint file failed: `reading checkpoint PATH: ...`.
    #[error("{action} checkpoint {}: {source}", path.display())]
    CheckpointFile {
        /// `reading` or `writing`.
        action: &'static str,
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    /// A checkpoint's `__meta__` entry that is not the JSON of its metadata.
    #[error("bad metadata: {0}")]
    BadMetadata(#[source] serde_json::Error),
    /// The stage-1 checkpoint given as `init_checkpoint` cannot be used.
    #[error("init_checkpoint: {0}")]
    InitCheckpoint(#[source] Box<Error>),
    /// The weights file given as `init_backbone` cannot be used.
    #[error("init_backbone {0}")]
    InitBackbone(#[source] crate::weights::WeightsError),
    /// Weights import and export: a file that is not safetensors, keys or shapes that do not
    /// fit the model, a head the torchvision format cannot hold, an output that exists.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// The run's dataset directory does not open: `dataset DIR: ...`.
    #[error("dataset {}: {source}", path.display())]
    Dataset {
        path: PathBuf,
        #[source]
        source: lt_data::Error,
    },
    /// The data side: readers, samplers, loaders, atomic writes.
    #[error(transparent)]
    Data(#[from] lt_data::Error),
    /// libtorch, through tch.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// An ATen operation of lt-core's C++ shim (SGD kernels, autocast, CUDA streams, ...).
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// Distributed training: launch environment, c10d rendezvous and collectives.
    #[error(transparent)]
    Dist(#[from] DistError),
    /// The plugin host: finding, loading or calling a plugin (boxed: its errors are large).
    #[error(transparent)]
    Plugin(Box<PluginError>),
    /// A stage's plugin component could not be built: `stage 2 loss 'las': ...`.
    #[error("stage {stage} {kind} '{name}': {source}")]
    Component {
        stage: u32,
        /// `loss`, `head` or `sampler`.
        kind: &'static str,
        name: String,
        #[source]
        source: Box<PluginError>,
    },
    /// The run's model component (`model_plugin`) could not be built or broke the ABI.
    #[error("model_plugin '{name}': {source}")]
    ModelPlugin {
        name: String,
        #[source]
        source: Box<PluginError>,
    },
    /// A backbone or head that cannot be built (sizes, depth).
    #[error("{0}")]
    Model(String),
    /// Building the named architecture failed: `building model 'resnet32': ...`, or
    /// `building the head of 'resnet32': ...`.
    #[error("building {part} '{arch}': {source}")]
    Build {
        /// `model` or `the head of`.
        part: &'static str,
        arch: String,
        #[source]
        source: Box<Error>,
    },
    /// An operation on the named tensor failed: `backbone.conv1.weight: ...`,
    /// `restoring 'head.bias': ...`.
    #[error("{name}: {source}")]
    Tensor {
        name: String,
        #[source]
        source: Box<Error>,
    },
    /// Optimiser hyper-parameters or state that cannot be used.
    #[error("{0}")]
    Optim(String),
    /// Evaluation inputs of the wrong shape or range.
    #[error("{0}")]
    Metrics(String),
    /// A run directory that cannot hold this run, or was made with another configuration.
    #[error("{0}")]
    RunDir(String),
    /// A run given as an upper reference of relative accuracy (`upper_from`) that cannot be
    /// read: missing, unfinished, or without a top-1.
    #[error("upper_from {}: {reason}", run.display())]
    UpperReference { run: PathBuf, reason: String },
    /// A `--seeds` sweep that cannot start, or whose seeds failed (boxed: its errors are
    /// large).
    #[error(transparent)]
    Sweep(Box<crate::sweep::SweepError>),
    /// A run that cannot go on: diverged, no samples, stopped as asked.
    #[error("{0}")]
    Training(String),
    /// CUDA: a feature this build lacks, or a device setting.
    #[error("{0}")]
    Cuda(String),
    /// A device name that cannot be used (`--device`).
    #[error("{0}")]
    Device(String),
    /// An argument a library function cannot take (shapes, sizes, counts).
    #[error("{0}")]
    Usage(String),
    /// JSON (metadata, metrics, configuration snapshots).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A `--print-config`/checkpoint configuration snapshot that does not read back:
    /// `PATH: configuration: ...`.
    #[error("{}: configuration: {source}", path.display())]
    Snapshot {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// lt-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<PluginError> for Error {
    fn from(e: PluginError) -> Self {
        Error::Plugin(Box::new(e))
    }
}

impl From<crate::sweep::SweepError> for Error {
    fn from(e: crate::sweep::SweepError) -> Self {
        Error::Sweep(Box::new(e))
    }
}

impl Error {
    /// An OS error on `path`: `PATH: message`.
    pub fn io(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::Io {
            what: path.as_ref().display().to_string(),
            err,
        }
    }

    /// An OS error while doing `what` (`creating DIR`, `PATH: cannot create it`).
    pub fn io_while(what: impl Into<String>, err: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            err,
        }
    }

    /// This error as the failure of an operation on the tensor `name`.
    pub fn on_tensor(self, name: impl Into<String>) -> Self {
        Error::Tensor {
            name: name.into(),
            source: Box::new(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_messages_read_context_then_cause() {
        let inner = Error::io(
            "/x/last.safetensors",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let e = Error::InitCheckpoint(Box::new(inner));
        assert_eq!(
            e.to_string(),
            "init_checkpoint: /x/last.safetensors: entity not found"
        );
        let source = std::error::Error::source(&e).unwrap().to_string();
        assert!(e.to_string().ends_with(&source));
        let e = Error::Checkpoint("bad".into()).on_tensor("head.weight");
        assert_eq!(e.to_string(), "head.weight: bad");
    }
}
