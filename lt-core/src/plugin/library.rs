//! Opening a plugin library safely and validating its table; creating components from it.

use super::call::CallCtx;
use super::components::Handle;
use super::elf;
use super::{
    ComponentInfo, ComponentKind, DatasetInfo, PluginError, PluginHead, PluginInfo, PluginLoss,
    PluginSampler, Result,
};
use lt_plugin::abi::{self, LtDatasetInfo, LtErr, LtStr, PluginV1};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A loaded library and its validated table; shared by every handle created from it.
pub(super) struct Lib {
    // Kept open for as long as any handle exists (and never unmapped, see RTLD_NODELETE).
    _lib: libloading::Library,
    table: *const PluginV1,
    pub(super) info: PluginInfo,
}

// The table is immutable and its functions may be called from any thread (the SDK's registry is
// a OnceLock); component instances themselves are `Send` only.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

impl Lib {
    pub(super) fn table(&self) -> &PluginV1 {
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
        let info = unsafe { read_info(t, &path)? };
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

    /// Creates the component `name` of `kind` through the table's constructor `create`, once
    /// the plugin is known to declare it.
    fn create(
        &self,
        kind: ComponentKind,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
        create: impl FnOnce(LtStr, LtStr, *const LtDatasetInfo, *mut abi::Handle, *mut LtErr) -> i32,
    ) -> Result<Handle> {
        self.check_component(kind, name)?;
        let cx = CallCtx {
            lib: self.lib.clone(),
            kind,
            component: name.to_string(),
        };
        let t = self.lib.table();
        let destroy = match kind {
            ComponentKind::Loss => t.loss.destroy,
            ComponentKind::Head => t.head.destroy,
            ComponentKind::Sampler => t.sampler.destroy,
        };
        let h = cx.create(config, data, create)?;
        Ok(Handle { cx, h, destroy })
    }

    /// Creates the loss `name` with a JSON config object (`Value::Null` = defaults).
    pub fn loss(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginLoss> {
        let create = self.lib.table().create_loss;
        let make = |n, c, i, out, err| unsafe { create(n, c, i, out, err) };
        let c = self.create(ComponentKind::Loss, name, config, data, make)?;
        Ok(PluginLoss { c })
    }

    /// Creates the classifier head `name`; `data.feature_dim` must be set.
    pub fn head(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginHead> {
        let create = self.lib.table().create_head;
        let make = |n, c, i, out, err| unsafe { create(n, c, i, out, err) };
        let c = self.create(ComponentKind::Head, name, config, data, make)?;
        let caps = unsafe { (self.lib.table().head.caps)(c.h) };
        Ok(PluginHead { c, caps })
    }

    /// Creates the sampler `name` over the training labels.
    pub fn sampler(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
        labels: &[u32],
    ) -> Result<PluginSampler> {
        let create = self.lib.table().create_sampler;
        let make =
            |n, c, i, out, err| unsafe { create(n, c, i, labels.as_ptr(), labels.len(), out, err) };
        let c = self.create(ComponentKind::Sampler, name, config, data, make)?;
        Ok(PluginSampler { c })
    }
}

/// Copies what the (validated-size) table declares, checking its tch version, name and
/// component list.
unsafe fn read_info(t: &PluginV1, path: &Path) -> Result<PluginInfo> {
    let tch_v = table_str(t.tch_version, path, "tch_version")?.unwrap_or_default();
    if tch_v != abi::TCH_VERSION {
        return Err(PluginError::TchMismatch {
            path: path.to_path_buf(),
            found: tch_v,
            expected: abi::TCH_VERSION,
        });
    }
    let name = table_str(t.name, path, "name")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad_table(path, "empty plugin name"))?;
    if t.num_components > 0 && t.components.is_null() {
        return Err(bad_table(path, "null component list"));
    }
    let mut components = Vec::with_capacity(t.num_components);
    for i in 0..t.num_components {
        let c = &*t.components.add(i);
        let kind = match c.kind {
            abi::KIND_SAMPLER => ComponentKind::Sampler,
            abi::KIND_LOSS => ComponentKind::Loss,
            abi::KIND_HEAD => ComponentKind::Head,
            k => {
                return Err(bad_table(
                    path,
                    format!("component {i} has unknown kind {k}"),
                ))
            }
        };
        components.push(ComponentInfo {
            kind,
            name: table_str(c.name, path, "component name")?.unwrap_or_default(),
            doc: table_str(c.doc, path, "component doc")?.unwrap_or_default(),
        });
    }
    Ok(PluginInfo {
        name,
        version: table_str(t.version, path, "version")?.unwrap_or_default(),
        description: table_str(t.description, path, "description")?.unwrap_or_default(),
        sdk_version: table_str(t.sdk_version, path, "sdk_version")?.unwrap_or_default(),
        recipe: table_str(t.recipe, path, "recipe")?,
        components,
        path: path.to_path_buf(),
    })
}

fn bad_table(path: &Path, reason: impl Into<String>) -> PluginError {
    PluginError::BadTable {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
