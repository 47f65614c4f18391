//! What can go wrong reading a weights file into a model or writing a model out; every
//! message is one line naming the file (and the key).

use std::path::PathBuf;

/// A weights file that cannot be read, does not fit the model, or cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The operating system's word on reading or writing the file.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    /// Not a safetensors file (bad header, truncated data), or a tensor type libtorch lacks.
    #[error("{}: not a readable safetensors file: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// A variable of the model's backbone that the file does not hold (`key` as the file
    /// would spell it).
    #[error("{}: missing key '{key}' ({arch} has it{})", path.display(), more(*others, "missing"))]
    Missing {
        path: PathBuf,
        key: String,
        arch: String,
        others: usize,
    },
    /// A key that is no variable of the model.
    #[error("{}: unexpected key '{key}' ({arch} has no such variable{})", path.display(), more(*others, "unexpected"))]
    Unexpected {
        path: PathBuf,
        key: String,
        arch: String,
        others: usize,
    },
    /// A tensor whose shape differs from the model's variable.
    #[error("{}: key '{key}' has shape {file:?}, {arch} expects {model:?}", path.display())]
    Shape {
        path: PathBuf,
        key: String,
        arch: String,
        file: Vec<i64>,
        model: Vec<i64>,
    },
    /// A tensor that is not floating-point where a weight belongs.
    #[error("{}: key '{key}' holds {kind} values, not floating-point weights", path.display())]
    Kind {
        path: PathBuf,
        key: String,
        kind: String,
    },
    /// The map from features to logits is not affine, so no linear `fc` reproduces it.
    #[error("{}: the logits of head '{head}' are not an affine function of the features (largest deviation {deviation:.3e}); the torchvision format holds only a linear fc: use --format torchscript", checkpoint.display())]
    NotAffine {
        checkpoint: PathBuf,
        head: String,
        deviation: f64,
    },
    /// The output exists and `--force` was not given.
    /// A model plugin's branches (several experts on a shared trunk) have no single backbone and
    /// linear fc that torchvision's layout could hold.
    #[error("{}: model plugin '{model}' has several branches, which the torchvision format (one backbone, one fc) cannot hold: use --format torchscript or lt", checkpoint.display())]
    Branches { checkpoint: PathBuf, model: String },
    #[error("{}: exists; give --force to replace it", path.display())]
    Exists { path: PathBuf },
    /// The checkpoint `export` reads by default is not there.
    #[error("{}: {why}; give --checkpoint FILE", path.display())]
    NoCheckpoint { path: PathBuf, why: String },
    /// libtorch could not trace the model into TorchScript.
    #[error("tracing the model of {}: {reason}", checkpoint.display())]
    Trace { checkpoint: PathBuf, reason: String },
}

/// `; N more KIND` when `n > 0`.
fn more(n: usize, kind: &str) -> String {
    match n {
        0 => String::new(),
        n => format!("; {n} more {kind}"),
    }
}
