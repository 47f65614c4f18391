//! The error a plugin component returns: [`Error`], one variant per kind of failure.
//!
//! It is not the host's `lt_core::plugin::PluginError`, on purpose: this one is written by
//! plugin code (a bad `gamma`, logits of the wrong shape) and crosses the C ABI as its one-line
//! message; the host's says that loading or calling a plugin failed (file not found, wrong ABI
//! version, a call that returned an error) and carries this message, prefixed with the plugin
//! file and the component, in its `Call` variant. A plugin author never sees the host's variants,
//! and the host never constructs these.

/// Everything a component can report; the host shows the `Display` text, one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tch (libtorch) call failed; `?` on any `f_` method converts.
    #[error("tch: {0}")]
    Tch(#[from] tch::TchError),
    /// The config does not parse as JSON or does not fit the component's typed config (an
    /// unknown key, a value of the wrong type).
    #[error("config: {0}")]
    ConfigSyntax(#[from] serde_json::Error),
    /// The config is JSON, but not an object.
    #[error("config: expected a JSON object")]
    ConfigNotObject,
    /// A key read with `Config::f64_or` (`bool_or`, `str_or`) holds a value of another type.
    #[error("config: `{key}` must be {expected}, got {got}")]
    ConfigType {
        key: String,
        expected: &'static str,
        got: serde_json::Value,
    },
    /// A config value the component refuses (out of range, an unknown name); the message names
    /// the key.
    #[error("{0}")]
    Config(String),
    /// The dataset does not suit the component: no classes, a class without images, a missing
    /// feature width, labels out of range.
    #[error("{0}")]
    Data(String),
    /// Logits that are not [B, K] for the dataset's K, or targets that are not [B]
    /// ([`check::logits_targets`](crate::check::logits_targets)).
    #[error("expected logits [B,{k}] and targets [B], got {logits:?} and {targets:?}")]
    LogitsShape {
        k: usize,
        logits: Vec<i64>,
        targets: Vec<i64>,
    },
    /// Logits whose width is not the dataset's K ([`check::logits`](crate::check::logits)).
    #[error("expected logits [B,{k}], got {logits:?}")]
    LogitsWidth { k: usize, logits: Vec<i64> },
    /// Features that are not [B, D] for the head's D
    /// ([`check::features`](crate::check::features)).
    #[error("expected features [B,{d}], got {got:?}")]
    FeaturesShape { d: i64, got: Vec<i64> },
    /// A stage-1 classifier tensor whose shape differs from the head's
    /// ([`copy_checked`](crate::copy_checked)).
    #[error("stage-1 {what} has shape {got:?}, this head expects {expected:?}")]
    InitShape {
        what: String,
        got: Vec<i64>,
        expected: Vec<i64>,
    },
    /// Other tensor arguments that do not fit (a feature width, the inputs of `fit`).
    #[error("{0}")]
    Input(String),
    /// A method called out of order (`forward` before `fit`, or before `on_epoch`).
    #[error("{0}")]
    State(String),
    /// An error of a library the component calls, shown as that library words it.
    #[error("{0}")]
    External(Box<dyn std::error::Error + Send + Sync>),
    /// A failure none of the variants above describes; the message is shown as it is.
    #[error("{0}")]
    Other(String),
    /// The host passed a null pointer where the ABI requires a value (a handle, a sink).
    #[error("null {0}")]
    Null(&'static str),
    /// The host passed a null tensor handle as the named argument.
    #[error("{0}: null tensor handle")]
    NullTensor(&'static str),
    /// A string argument of the host is not UTF-8.
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    /// The host named a device this SDK does not know.
    #[error("unknown device code {0}")]
    UnknownDevice(i32),
    /// The host asked for a component the plugin does not export.
    #[error("no {kind} named `{name}` (available: {available})")]
    NoComponent {
        kind: &'static str,
        name: String,
        available: String,
    },
}

/// Result type of every plugin method.
pub type Result<T, E = Error> = std::result::Result<T, E>;
