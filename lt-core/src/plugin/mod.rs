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

mod elf;

use lt_plugin::abi::{self, LtDatasetInfo, LtErr, LtStr, LtTensorSink, LtU32Sink, PluginV1};
pub use lt_plugin::{DatasetInfo, NamedTensor, StepCtx};
use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Tensor};

/// Environment variable with extra plugin directories, colon-separated, searched first.
pub const PLUGIN_PATH_ENV: &str = "LT_PLUGIN_PATH";

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
        "{}: plugin ABI version {found}, but this lt-train speaks ABI version {expected}; rebuild the plugin against lt-plugin {sdk}",
        path.display()
    )]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
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

/// The three kinds of component a plugin can provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Sampler,
    Loss,
    Head,
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentKind::Sampler => "sampler",
            ComponentKind::Loss => "loss",
            ComponentKind::Head => "head",
        })
    }
}

/// One component a plugin declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: String,
    pub doc: String,
}

/// What a plugin declares about itself, copied out of its table.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Version of the lt-plugin SDK the plugin was built with.
    pub sdk_version: String,
    /// Default stage configs (TOML), if the plugin ships a recipe.
    pub recipe: Option<String>,
    pub components: Vec<ComponentInfo>,
    pub path: PathBuf,
}

impl PluginInfo {
    /// Names of the components of one kind.
    pub fn names(&self, kind: ComponentKind) -> Vec<&str> {
        self.components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The one-line form `lt-train plugins` prints: name, version, components, recipe flag, path.
impl fmt::Display for PluginInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let comps: Vec<String> = self
            .components
            .iter()
            .map(|c| format!("{}:{}", c.kind, c.name))
            .collect();
        write!(f, "{} {} [{}]", self.name, self.version, comps.join(", "))?;
        if self.recipe.is_some() {
            f.write_str(" +recipe")?;
        }
        write!(f, " - {} ({})", self.description, self.path.display())
    }
}

/// The directories searched for plugins, in order.
#[derive(Debug, Clone, Default)]
pub struct PluginSearch {
    /// (directory, dedicated): a dedicated directory holds only plugins, so `discover` considers
    /// every `lib*.so` there; elsewhere only `liblt_plugin_*.so`.
    dirs: Vec<(PathBuf, bool)>,
}

impl PluginSearch {
    /// An empty search path.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a directory that holds only plugins.
    pub fn dedicated_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push((dir.into(), true));
        self
    }

    /// Appends a directory that may hold other libraries too.
    pub fn shared_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dirs.push((dir.into(), false));
        self
    }

    /// The documented default: `LT_PLUGIN_PATH`, the binary's directory, its `plugins/`.
    pub fn from_env() -> Self {
        let mut s = PluginSearch::new();
        if let Some(v) = std::env::var_os(PLUGIN_PATH_ENV) {
            for d in std::env::split_paths(&v) {
                if !d.as_os_str().is_empty() {
                    s = s.dedicated_dir(d);
                }
            }
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            s = s.shared_dir(dir.clone()).dedicated_dir(dir.join("plugins"));
        }
        s
    }

    /// Directories in search order, with whether each is dedicated.
    pub fn dirs(&self) -> Vec<(&Path, bool)> {
        self.dirs
            .iter()
            .map(|(d, ded)| (d.as_path(), *ded))
            .collect()
    }

    /// Resolves a plugin name or path to a file without loading it.
    pub fn find(&self, spec: &str) -> Result<PathBuf> {
        if is_path_spec(spec) {
            return Ok(PathBuf::from(spec));
        }
        let files = candidate_files(spec);
        for (dir, _) in self.dirs() {
            for f in &files {
                let p = dir.join(f);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(PluginError::NotFound {
            name: spec.to_string(),
            files: files.join(" or "),
            dirs: if self.dirs.is_empty() {
                "no directories; set LT_PLUGIN_PATH".to_string()
            } else {
                self.dirs()
                    .iter()
                    .map(|(d, _)| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Finds and loads a plugin by name, or loads the file `spec` names.
    pub fn load(&self, spec: &str) -> Result<Plugin> {
        Plugin::open(&self.find(spec)?)
    }

    /// Loads every plugin in the search path; broken candidates go to `problems`.
    pub fn discover(&self) -> Discovery {
        let mut out = Discovery::default();
        let mut seen = std::collections::HashSet::new();
        for (dir, dedicated) in self.dirs() {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                // Not `is_file`: a broken link or a special file named like a plugin is reported.
                .filter(|p| !p.is_dir())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.ends_with(".so")
                        && (n.starts_with("liblt_plugin_") || (dedicated && n.starts_with("lib")))
                })
                .collect();
            files.sort();
            for f in files {
                match Plugin::open(&f) {
                    Ok(p) => {
                        if seen.insert(p.info().name.clone()) {
                            out.plugins.push(p.info().clone());
                        }
                    }
                    Err(e) => out.problems.push(e),
                }
            }
        }
        out
    }
}

/// Result of [`PluginSearch::discover`].
#[derive(Debug, Default)]
pub struct Discovery {
    pub plugins: Vec<PluginInfo>,
    /// Files that looked like plugins but failed to load (to print as warnings).
    pub problems: Vec<PluginError>,
}

fn is_path_spec(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".so")
}

fn candidate_files(name: &str) -> Vec<String> {
    let n = name.replace('-', "_");
    let mut v = vec![format!("liblt_plugin_{n}.so"), format!("lib{n}.so")];
    if n != name {
        v.push(format!("lib{name}.so"));
    }
    v
}

/// Plugins found in the default search path (see the module docs); `lt-train plugins` prints
/// each with `{}` (one line, starting with the name).
pub fn discover() -> Vec<PluginInfo> {
    PluginSearch::from_env().discover().plugins
}

/// Loads a plugin by name (default search path) or by path.
pub fn load(name_or_path: &str) -> Result<Plugin> {
    PluginSearch::from_env().load(name_or_path)
}

/// A loaded library and its validated table; shared by every handle created from it.
struct Lib {
    // Kept open for as long as any handle exists (and never unmapped, see RTLD_NODELETE).
    _lib: libloading::Library,
    table: *const PluginV1,
    info: PluginInfo,
}

// The table is immutable and its functions may be called from any thread (the SDK's registry is
// a OnceLock); component instances themselves are `Send` only.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

impl Lib {
    fn table(&self) -> &PluginV1 {
        // Valid: checked non-null at load, lives as long as the library.
        unsafe { &*self.table }
    }
}

/// A loaded plugin. Cheap to clone; the library stays loaded while any clone or component lives.
#[derive(Clone)]
pub struct Plugin {
    lib: Arc<Lib>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("info", &self.lib.info)
            .finish()
    }
}

#[cfg(unix)]
fn open_library(path: &Path) -> std::result::Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // glibc's RTLD_NODELETE; libloading does not name it.
    #[cfg(target_os = "linux")]
    const NODELETE: i32 = 0x1000;
    #[cfg(not(target_os = "linux"))]
    const NODELETE: i32 = 0;
    // SAFETY: loading a library runs its initialisers; that is inherent to plugins.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL | NODELETE).map(Into::into) }
}

#[cfg(not(unix))]
fn open_library(path: &Path) -> std::result::Result<libloading::Library, libloading::Error> {
    unsafe { libloading::Library::new(path) }
}

/// Copies a table string; `what` names the field for the error.
unsafe fn table_str(s: LtStr, path: &Path, what: &str) -> Result<Option<String>> {
    match s.get() {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v.to_string())),
        Some(Err(_)) => Err(PluginError::BadTable {
            path: path.to_path_buf(),
            reason: format!("{what} is not UTF-8"),
        }),
    }
}

impl Plugin {
    /// Opens the library at `path` and validates it (see the module docs for the order).
    pub fn open(path: &Path) -> Result<Plugin> {
        let path = path.to_path_buf();
        elf::check_file(&path).map_err(|r| match r {
            elf::Rejection::File(reason) => PluginError::BadFile {
                path: path.clone(),
                reason,
            },
            elf::Rejection::Format(reason) => PluginError::NotALibrary {
                path: path.clone(),
                reason,
            },
        })?;
        let lib = open_library(&path).map_err(|e| {
            // dlerror() starts with the path, which the message names already.
            let e = e.to_string();
            let prefix = format!("{}: ", path.display());
            PluginError::NotALibrary {
                path: path.clone(),
                reason: e.strip_prefix(&prefix).unwrap_or(&e).to_string(),
            }
        })?;
        let missing = |sym: &str| PluginError::MissingSymbol {
            path: path.clone(),
            symbol: sym.to_string(),
        };
        // SAFETY: the symbol names are reserved by the ABI for these signatures.
        let version = unsafe {
            let f = lib
                .get::<unsafe extern "C" fn() -> u32>(b"lt_plugin_abi_version\0")
                .map_err(|_| missing(abi::SYM_ABI_VERSION))?;
            f()
        };
        if version != abi::ABI_VERSION {
            return Err(PluginError::AbiMismatch {
                path,
                found: version,
                expected: abi::ABI_VERSION,
                sdk: env!("CARGO_PKG_VERSION"),
            });
        }
        let table = unsafe {
            let f = lib
                .get::<unsafe extern "C" fn() -> *const PluginV1>(b"lt_plugin_v1\0")
                .map_err(|_| missing(abi::SYM_PLUGIN_V1))?;
            f()
        };
        let bad = |reason: String| PluginError::BadTable {
            path: path.clone(),
            reason,
        };
        // SAFETY: checked non-null; the ABI version says it is a PluginV1 of at least the size
        // below, which is checked before any field after `size` is read.
        let t =
            unsafe { table.as_ref() }.ok_or_else(|| bad("lt_plugin_v1 returned null".into()))?;
        if t.abi_version != abi::ABI_VERSION {
            return Err(PluginError::AbiMismatch {
                path,
                found: t.abi_version,
                expected: abi::ABI_VERSION,
                sdk: env!("CARGO_PKG_VERSION"),
            });
        }
        if t.size < std::mem::size_of::<PluginV1>() {
            return Err(bad(format!(
                "table is {} bytes, expected at least {}",
                t.size,
                std::mem::size_of::<PluginV1>()
            )));
        }
        let info = unsafe {
            let tch_v = table_str(t.tch_version, &path, "tch_version")?.unwrap_or_default();
            if tch_v != abi::TCH_VERSION {
                return Err(PluginError::TchMismatch {
                    path,
                    found: tch_v,
                    expected: abi::TCH_VERSION,
                });
            }
            let name = table_str(t.name, &path, "name")?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad("empty plugin name".into()))?;
            if t.num_components > 0 && t.components.is_null() {
                return Err(bad("null component list".into()));
            }
            let mut components = Vec::with_capacity(t.num_components);
            for i in 0..t.num_components {
                let c = &*t.components.add(i);
                let kind = match c.kind {
                    abi::KIND_SAMPLER => ComponentKind::Sampler,
                    abi::KIND_LOSS => ComponentKind::Loss,
                    abi::KIND_HEAD => ComponentKind::Head,
                    k => return Err(bad(format!("component {i} has unknown kind {k}"))),
                };
                components.push(ComponentInfo {
                    kind,
                    name: table_str(c.name, &path, "component name")?.unwrap_or_default(),
                    doc: table_str(c.doc, &path, "component doc")?.unwrap_or_default(),
                });
            }
            PluginInfo {
                name,
                version: table_str(t.version, &path, "version")?.unwrap_or_default(),
                description: table_str(t.description, &path, "description")?.unwrap_or_default(),
                sdk_version: table_str(t.sdk_version, &path, "sdk_version")?.unwrap_or_default(),
                recipe: table_str(t.recipe, &path, "recipe")?,
                components,
                path: path.clone(),
            }
        };
        Ok(Plugin {
            lib: Arc::new(Lib {
                _lib: lib,
                table,
                info,
            }),
        })
    }

    pub fn info(&self) -> &PluginInfo {
        &self.lib.info
    }

    /// The plugin's recipe (TOML), if it ships one.
    pub fn recipe(&self) -> Option<&str> {
        self.lib.info.recipe.as_deref()
    }

    fn check_component(&self, kind: ComponentKind, name: &str) -> Result<()> {
        let info = &self.lib.info;
        if info
            .components
            .iter()
            .any(|c| c.kind == kind && c.name == name)
        {
            return Ok(());
        }
        let names = info.names(kind);
        Err(PluginError::UnknownComponent {
            path: info.path.clone(),
            plugin: info.name.clone(),
            kind,
            name: name.to_string(),
            available: if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        })
    }

    fn ctx(&self, kind: ComponentKind, component: &str) -> CallCtx {
        CallCtx {
            lib: self.lib.clone(),
            kind,
            component: component.to_string(),
        }
    }

    /// Creates the loss `name` with a JSON config object (`Value::Null` = defaults).
    pub fn loss(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginLoss> {
        self.check_component(ComponentKind::Loss, name)?;
        let cx = self.ctx(ComponentKind::Loss, name);
        let h = cx.create(config, data, |n, c, i, out, err| unsafe {
            (self.lib.table().create_loss)(n, c, i, out, err)
        })?;
        Ok(PluginLoss { cx, h })
    }

    /// Creates the classifier head `name`; `data.feature_dim` must be set.
    pub fn head(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginHead> {
        self.check_component(ComponentKind::Head, name)?;
        let cx = self.ctx(ComponentKind::Head, name);
        let h = cx.create(config, data, |n, c, i, out, err| unsafe {
            (self.lib.table().create_head)(n, c, i, out, err)
        })?;
        let caps = unsafe { (self.lib.table().head.caps)(h) };
        Ok(PluginHead { cx, h, caps })
    }

    /// Creates the sampler `name` over the training labels.
    pub fn sampler(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
        labels: &[u32],
    ) -> Result<PluginSampler> {
        self.check_component(ComponentKind::Sampler, name)?;
        let cx = self.ctx(ComponentKind::Sampler, name);
        let h = cx.create(config, data, |n, c, i, out, err| unsafe {
            (self.lib.table().create_sampler)(n, c, i, labels.as_ptr(), labels.len(), out, err)
        })?;
        Ok(PluginSampler { cx, h })
    }
}

/// Identifies a component for error messages and keeps its library alive.
struct CallCtx {
    lib: Arc<Lib>,
    kind: ComponentKind,
    component: String,
}

unsafe extern "C" fn set_error(ctx: *mut c_void, msg: LtStr) {
    let s = &mut *(ctx as *mut String);
    *s = match msg.get() {
        Some(Ok(m)) => m.to_string(),
        Some(Err(_)) => {
            String::from_utf8_lossy(std::slice::from_raw_parts(msg.ptr, msg.len)).into_owned()
        }
        None => String::new(),
    };
}

unsafe extern "C" fn push_u32(ctx: *mut c_void, data: *const u32, len: usize) {
    if len > 0 && !data.is_null() {
        (*(ctx as *mut Vec<u32>)).extend_from_slice(std::slice::from_raw_parts(data, len));
    }
}

unsafe extern "C" fn push_tensor(
    ctx: *mut c_void,
    name: LtStr,
    tensor: *mut c_void,
    trainable: u8,
) {
    let v = &mut *(ctx as *mut Vec<(String, *mut c_void, bool)>);
    let name = if name.ptr.is_null() {
        String::new()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(name.ptr, name.len)).into_owned()
    };
    v.push((name, tensor, trainable != 0));
}

fn device_code(d: Device) -> Option<i32> {
    match d {
        Device::Cpu => Some(-1),
        Device::Cuda(n) => i32::try_from(n).ok(),
        Device::Mps => Some(-2),
        _ => None,
    }
}

/// Borrowed tensor argument (the plugin must not free it).
fn arg(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

impl CallCtx {
    fn err(&self, op: &'static str, status: i32, message: String) -> PluginError {
        PluginError::Call {
            path: self.lib.info.path.clone(),
            plugin: self.lib.info.name.clone(),
            kind: self.kind,
            component: self.component.clone(),
            op,
            message: if message.is_empty() {
                format!("status {status} without a message")
            } else {
                message
            },
            panicked: status == abi::LT_PANIC,
        }
    }

    /// Runs one table call with an error sink, mapping a non-OK status to [`PluginError::Call`].
    fn call(&self, op: &'static str, f: impl FnOnce(*mut LtErr) -> i32) -> Result<()> {
        let mut msg = String::new();
        let mut err = LtErr {
            ctx: &mut msg as *mut String as *mut c_void,
            set: set_error,
        };
        let status = f(&mut err);
        if status == abi::LT_OK {
            Ok(())
        } else {
            Err(self.err(op, status, msg))
        }
    }

    /// Takes ownership of a tensor the plugin returned.
    fn take(&self, op: &'static str, p: *mut c_void) -> Result<Tensor> {
        if p.is_null() {
            return Err(self.err(op, abi::LT_ERR, "returned no tensor".to_string()));
        }
        // SAFETY: the ABI transfers ownership of result handles to the host.
        Ok(unsafe { Tensor::from_ptr(p as *mut _) })
    }

    fn bad_arg(&self, reason: String) -> PluginError {
        PluginError::BadArgument {
            plugin: self.lib.info.name.clone(),
            kind: self.kind,
            component: self.component.clone(),
            reason,
        }
    }

    fn create(
        &self,
        config: &serde_json::Value,
        data: &DatasetInfo,
        f: impl FnOnce(LtStr, LtStr, *const LtDatasetInfo, *mut abi::Handle, *mut LtErr) -> i32,
    ) -> Result<abi::Handle> {
        let config = match config {
            serde_json::Value::Null => "{}".to_string(),
            v if v.is_object() => v.to_string(),
            v => return Err(self.bad_arg(format!("config must be a JSON object, got {v}"))),
        };
        let device = device_code(data.device)
            .ok_or_else(|| self.bad_arg(format!("unsupported device {:?}", data.device)))?;
        let info = LtDatasetInfo {
            num_classes: u32::try_from(data.num_classes)
                .map_err(|_| self.bad_arg("too many classes".into()))?,
            feature_dim: u32::try_from(data.feature_dim)
                .map_err(|_| self.bad_arg("feature_dim too large".into()))?,
            class_counts: data.class_counts.as_ptr(),
            class_counts_len: data.class_counts.len(),
            seed: data.seed,
            device,
        };
        let mut h: abi::Handle = std::ptr::null_mut();
        self.call("create", |err| {
            f(
                LtStr::new(&self.component),
                LtStr::new(&config),
                &info,
                &mut h,
                err,
            )
        })?;
        if h.is_null() {
            return Err(self.err("create", abi::LT_ERR, "returned a null handle".into()));
        }
        Ok(h)
    }
}

/// A loss created by a plugin. Dropping it destroys the plugin-side object.
pub struct PluginLoss {
    cx: CallCtx,
    h: abi::Handle,
}

// The SDK requires `Loss: Send`; the handle is used by one thread at a time (`&mut self`).
unsafe impl Send for PluginLoss {}

impl PluginLoss {
    pub fn name(&self) -> &str {
        &self.cx.component
    }

    /// The scalar training loss for `logits` [B,K] and int64 `targets` [B], with its autograd
    /// graph back to `logits`.
    pub fn forward(&mut self, logits: &Tensor, targets: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.cx.lib.table();
        self.cx.call("forward", |err| unsafe {
            (t.loss.forward)(self.h, arg(logits), arg(targets), ctx, &mut out, err)
        })?;
        self.cx.take("forward", out)
    }

    /// Eval-time logit adjustment; `None` when this loss leaves logits unchanged.
    pub fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.cx.lib.table();
        self.cx.call("adjust_logits", |err| unsafe {
            (t.loss.adjust_logits)(self.h, arg(logits), &mut out, err)
        })?;
        if out.is_null() {
            Ok(None)
        } else {
            self.cx.take("adjust_logits", out).map(Some)
        }
    }

    /// Call at the start of every epoch, before the epoch's first `forward`.
    pub fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        let t = self.cx.lib.table();
        self.cx.call("on_epoch", |err| unsafe {
            (t.loss.on_epoch)(self.h, ctx, err)
        })
    }
}

impl Drop for PluginLoss {
    fn drop(&mut self) {
        unsafe { (self.cx.lib.table().loss.destroy)(self.h) }
    }
}

/// A classifier head created by a plugin.
pub struct PluginHead {
    cx: CallCtx,
    h: abi::Handle,
    caps: u32,
}

unsafe impl Send for PluginHead {}

impl PluginHead {
    pub fn name(&self) -> &str {
        &self.cx.component
    }

    /// Logits [B,K] for `features` [B,D].
    pub fn forward(&mut self, features: &Tensor, train: bool) -> Result<Tensor> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.cx.lib.table();
        self.cx.call("forward", |err| unsafe {
            (t.head.forward)(self.h, arg(features), train as u8, &mut out, err)
        })?;
        self.cx.take("forward", out)
    }

    /// Every state tensor (sharing storage with the head): give the trainable ones to the
    /// optimiser, checkpoint all; restore by `copy_` under `no_grad`.
    pub fn named_tensors(&mut self) -> Result<Vec<NamedTensor>> {
        let mut raw: Vec<(String, *mut c_void, bool)> = Vec::new();
        let mut sink = LtTensorSink {
            ctx: &mut raw as *mut _ as *mut c_void,
            push: push_tensor,
        };
        let t = self.cx.lib.table();
        let status = self.cx.call("named_tensors", |err| unsafe {
            (t.head.named_tensors)(self.h, &mut sink, err)
        });
        // Take ownership of whatever was pushed, even on error, so nothing leaks.
        let mut out = Vec::with_capacity(raw.len());
        let mut null = false;
        for (name, p, trainable) in raw {
            if p.is_null() {
                null = true;
                continue;
            }
            let tensor = unsafe { Tensor::from_ptr(p as *mut _) };
            out.push(NamedTensor {
                name,
                tensor,
                trainable,
            });
        }
        status?;
        if null {
            return Err(self
                .cx
                .err("named_tensors", abi::LT_ERR, "pushed a null tensor".into()));
        }
        Ok(out)
    }

    /// Whether the head wants [`PluginHead::init_from_linear`] with the stage-1 classifier.
    pub fn wants_linear_init(&self) -> bool {
        self.caps & abi::CAP_HEAD_LINEAR_INIT != 0
    }

    /// Initialise from the stage-1 linear classifier: `weight` [K,D], `bias` [K].
    pub fn init_from_linear(&mut self, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
        let t = self.cx.lib.table();
        let b = bias.map_or(std::ptr::null_mut(), arg);
        self.cx.call("init_from_linear", |err| unsafe {
            (t.head.init_from_linear)(self.h, arg(weight), b, err)
        })
    }

    /// Whether [`PluginHead::fit`] must be called before evaluation (e.g. NCM).
    pub fn needs_fit(&self) -> bool {
        self.caps & abi::CAP_HEAD_NEEDS_FIT != 0
    }

    /// Fit non-gradient state on training `features` [N,D] and int64 `labels` [N].
    pub fn fit(&mut self, features: &Tensor, labels: &Tensor) -> Result<()> {
        let t = self.cx.lib.table();
        self.cx.call("fit", |err| unsafe {
            (t.head.fit)(self.h, arg(features), arg(labels), err)
        })
    }
}

impl Drop for PluginHead {
    fn drop(&mut self) {
        unsafe { (self.cx.lib.table().head.destroy)(self.h) }
    }
}

/// A sampler created by a plugin.
pub struct PluginSampler {
    cx: CallCtx,
    h: abi::Handle,
}

unsafe impl Send for PluginSampler {}

impl PluginSampler {
    pub fn name(&self) -> &str {
        &self.cx.component
    }

    /// Indices into the training set for `epoch` (zero-based).
    pub fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>> {
        let mut v: Vec<u32> = Vec::new();
        let mut sink = LtU32Sink {
            ctx: &mut v as *mut Vec<u32> as *mut c_void,
            push: push_u32,
        };
        let t = self.cx.lib.table();
        self.cx.call("epoch_indices", |err| unsafe {
            (t.sampler.epoch_indices)(self.h, epoch, &mut sink, err)
        })?;
        Ok(v)
    }
}

impl Drop for PluginSampler {
    fn drop(&mut self) {
        unsafe { (self.cx.lib.table().sampler.destroy)(self.h) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_names_follow_the_documented_rule() {
        assert_eq!(
            candidate_files("example-loss"),
            vec![
                "liblt_plugin_example_loss.so",
                "libexample_loss.so",
                "libexample-loss.so"
            ]
        );
        assert_eq!(
            candidate_files("mislas"),
            vec!["liblt_plugin_mislas.so", "libmislas.so"]
        );
        assert!(is_path_spec("./x.so") && is_path_spec("a/b") && !is_path_spec("mislas"));
    }

    #[test]
    fn not_found_lists_files_and_dirs() {
        let s = PluginSearch::new().dedicated_dir("/nonexistent/plugins");
        let e = s.load("nope").unwrap_err().to_string();
        assert!(e.contains("plugin `nope` not found"), "{e}");
        assert!(
            e.contains("liblt_plugin_nope.so") && e.contains("/nonexistent/plugins"),
            "{e}"
        );
    }
}
