//! Host side of the plugin ABI: finding plugin libraries, loading them safely, and safe wrappers
//! around their losses, heads and samplers.
//!
//! # Search rule
//! `load(spec)` treats `spec` as a path when it contains a `/` or ends in `.so`. Otherwise `spec`
//! is a plugin name `N` (dashes become underscores: `n`) and these directories are searched in
//! order, first match wins:
//! 1. every directory in `LT_PLUGIN_PATH` (colon-separated),
//! 2. the directory of the running binary,
//! 3. its `plugins/` subdirectory;
//!
//! and in each directory the file names `liblt_plugin_<n>.so`, then `lib<n>.so`. A plugin crate
//! named `lt-plugin-<name>` therefore builds a library the search finds as `<name>`.
//!
//! `discover()` lists `liblt_plugin_*.so` files in all these directories and, in the dedicated
//! plugin directories (`LT_PLUGIN_PATH` entries and `plugins/`), any `lib*.so` file. When two
//! files declare the same plugin name, the first in search order wins.
//!
//! # Safety
//! Before `dlopen` the file is checked (module `elf`): a regular file whose ELF header describes
//! a shared library for this machine and whose segments and section headers lie inside it, so a
//! truncated or foreign file is an error, not a SIGBUS. A library is then opened with
//! `RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE`: unresolved symbols fail at load time with a message
//! instead of at first call, plugin symbols stay private, and the code is never unmapped
//! (tensors and autograd graphs created by plugin code may outlive every handle). The ABI
//! version is checked before anything else is called; every call result is checked; plugin
//! panics are caught inside the plugin (see `lt_plugin::abi`).

mod call;
mod components;
mod components_v2;
mod elf;
mod error;
mod info;
mod library;
mod search;

pub use components::{PluginHead, PluginLoss, PluginSampler};
pub use components_v2::{ModelOut, PluginFeatureLoss, PluginModel};
pub use error::{PluginError, Result};
pub use info::{ComponentInfo, ComponentKind, PluginInfo};
pub use library::Plugin;
pub use lt_plugin::{DatasetInfo, LossInput, NamedTensor, Needs, StepCtx};
pub use search::{discover, load, Discovery, PluginSearch, PLUGIN_PATH_ENV};
