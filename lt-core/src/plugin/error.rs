//! [`PluginError`]: loading or calling a plugin failed, as the host (lt-train) sees it.
//!
//! Not the SDK's `lt_plugin::Error`, on purpose: that one is what plugin code returns from
//! inside a component (a bad config value, logits of the wrong shape) and reaches the host as a
//! one-line message, which [`PluginError::Call`] carries. This one names the plugin file and
//! says which step failed (finding, checking, opening, validating, calling); plugin code never
//! builds it.

use super::ComponentKind;
use std::path::PathBuf;

/// Everything that can go wrong with a plugin; each message is one line and names the plugin
/// file (or, for `NotFound` and `BadArgument`, the plugin).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No file in the search path has one of the names a plugin name maps to.
    #[error("plugin `{name}` not found (looked for {files} in: {dirs})")]
    NotFound {
        name: String,
        files: String,
        dirs: String,
    },
    /// The path is not a readable regular file (missing, a directory, unreadable), or the file
    /// is damaged: empty, cut short, or with header offsets past any file's end. Found before
    /// `dlopen`, which would otherwise map the missing bytes and die of SIGBUS.
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// A complete file that is not a shared library for this host (not ELF, 32-bit, another
    /// machine, not `ET_DYN`), or one that `dlopen` refused (e.g. an unresolved symbol).
    #[error("{}: not a loadable shared library: {reason}", path.display())]
    NotALibrary { path: PathBuf, reason: String },
    /// A loadable library without the plugin entry points.
    #[error("{}: not an lt-train plugin: missing symbol `{symbol}`", path.display())]
    MissingSymbol { path: PathBuf, symbol: String },
    /// A plugin built against another version of the plugin ABI.
    #[error(
        "{}: plugin ABI version {found}, but this lt-train speaks ABI versions {expected}; rebuild the plugin against lt-plugin {sdk}",
        path.display()
    )]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        /// The versions this host loads, as text ("1, 2").
        expected: String,
        sdk: &'static str,
    },
    /// A plugin built with another tch (and so possibly another libtorch).
    #[error("{}: plugin built with tch {found}, this lt-train uses tch {expected}: tensors cannot cross safely; rebuild the plugin", path.display())]
    TchMismatch {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    /// The plugin's table is malformed (too small, null, not UTF-8, ...).
    #[error("{}: invalid plugin table: {reason}", path.display())]
    BadTable { path: PathBuf, reason: String },
    /// The plugin has no component of that kind and name.
    #[error("{}: plugin `{plugin}` has no {kind} named `{name}` (available: {available})", path.display())]
    UnknownComponent {
        path: PathBuf,
        plugin: String,
        kind: ComponentKind,
        name: String,
        available: String,
    },
    /// A call into the plugin returned an error or panicked.
    #[error("{}: plugin `{plugin}`, {kind} `{component}`: {op} {}: {message}", path.display(), verb(.panicked))]
    Call {
        path: PathBuf,
        plugin: String,
        kind: ComponentKind,
        component: String,
        op: &'static str,
        message: String,
        /// True when the plugin panicked (caught inside the plugin), false for a returned error.
        panicked: bool,
    },
    /// A version-2 component that breaks the ABI's rules: capability bits the ABI does not
    /// define, a model with no branches, outputs of the wrong shape or count.
    #[error("{}: plugin `{plugin}`, {kind} `{component}`: {reason}", path.display())]
    Contract {
        path: PathBuf,
        plugin: String,
        kind: ComponentKind,
        component: String,
        reason: String,
    },
    /// The host refused an argument before calling the plugin (config not an object, ...).
    #[error("plugin `{plugin}`, {kind} `{component}`: {reason}")]
    BadArgument {
        plugin: String,
        kind: ComponentKind,
        component: String,
        reason: String,
    },
}

fn verb<B: std::borrow::Borrow<bool>>(panicked: B) -> &'static str {
    if *panicked.borrow() {
        "panicked"
    } else {
        "failed"
    }
}

pub type Result<T, E = PluginError> = std::result::Result<T, E>;
