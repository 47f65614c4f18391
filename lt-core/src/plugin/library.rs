//! Opening a plugin library safely and validating its table; creating components from it.

use super::call::CallCtx;
use super::components::Handle;
use super::elf;
use super::{
    ComponentInfo, ComponentKind, DatasetInfo, PluginError, PluginFeatureLoss, PluginHead,
    PluginInfo, PluginLoss, PluginModel, PluginSampler, Result,
};
use lt_plugin::abi::{self, LtDatasetInfo, LtErr, LtStr, PluginV1, PluginV2};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A loaded library and its validated table; shared by every handle created from it.
pub(super) struct Lib {
    // Kept open for as long as any handle exists (and never unmapped, see RTLD_NODELETE).
    _lib: libloading::Library,
    table: *const PluginV1,
    /// The whole table of a version-2 plugin (its `v1` field is `table`).
    table_v2: Option<*const PluginV2>,
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

    /// The version-2 table; `None` for a version-1 plugin.
    pub(super) fn table_v2(&self) -> Option<&PluginV2> {
        // Valid: checked non-null and large enough at load.
        self.table_v2.map(|t| unsafe { &*t })
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
        let (table, table_v2) = unsafe { tables(&lib, &path)? };
        // SAFETY: `tables` checked the pointers and sizes.
        let info = unsafe { read_info(&*table, &path)? };
        Ok(Plugin {
            lib: Arc::new(Lib {
                _lib: lib,
                table,
                table_v2,
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
        let t2 = self.lib.table_v2();
        let destroy = match kind {
            ComponentKind::Loss => t.loss.destroy,
            ComponentKind::Head => t.head.destroy,
            ComponentKind::Sampler => t.sampler.destroy,
            // Declared only by version-2 tables (`read_info`).
            ComponentKind::FeatureLoss => t2.expect("version-2 kind").feature_loss.destroy,
            ComponentKind::Model => t2.expect("version-2 kind").model.destroy,
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

fn versions() -> String {
    abi::ABI_VERSIONS.map(|v| v.to_string()).join(" and ")
}

/// Asks the library its ABI version and returns its table(s), checked: non-null, the version
/// repeated inside, at least the host's size. Version 1 gives `lt_plugin_v1`'s table, version 2
/// `lt_plugin_v2`'s and its first field.
unsafe fn tables(
    lib: &libloading::Library,
    path: &Path,
) -> Result<(*const PluginV1, Option<*const PluginV2>)> {
    let missing = |sym: &str| PluginError::MissingSymbol {
        path: path.to_path_buf(),
        symbol: sym.to_string(),
    };
    let mismatch = |found| PluginError::AbiMismatch {
        path: path.to_path_buf(),
        found,
        expected: versions(),
        sdk: env!("CARGO_PKG_VERSION"),
    };
    // SAFETY: the symbol names are reserved by the ABI for these signatures.
    let version = lib
        .get::<unsafe extern "C" fn() -> u32>(b"lt_plugin_abi_version\0")
        .map_err(|_| missing(abi::SYM_ABI_VERSION))?();
    let (table, v2) = match version {
        abi::ABI_V1 => {
            let f = lib
                .get::<unsafe extern "C" fn() -> *const PluginV1>(b"lt_plugin_v1\0")
                .map_err(|_| missing(abi::SYM_PLUGIN_V1))?;
            (f(), None)
        }
        abi::ABI_VERSION => {
            let f = lib
                .get::<unsafe extern "C" fn() -> *const PluginV2>(b"lt_plugin_v2\0")
                .map_err(|_| missing(abi::SYM_PLUGIN_V2))?;
            let t = f();
            (t as *const PluginV1, Some(t))
        }
        v => return Err(mismatch(v)),
    };
    let sym = if v2.is_some() {
        "lt_plugin_v2"
    } else {
        "lt_plugin_v1"
    };
    let t = table
        .as_ref()
        .ok_or_else(|| bad_table(path, format!("{sym} returned null")))?;
    if t.abi_version != version {
        return Err(mismatch(t.abi_version));
    }
    check_size(path, "table", t.size, std::mem::size_of::<PluginV1>())?;
    if let Some(t2) = v2 {
        // Fields added to version 2 later are optional (`PluginV2::has_model_ext`).
        check_size(
            path,
            "version-2 table",
            (*t2).size,
            abi::PLUGIN_V2_BASE_SIZE,
        )?;
    }
    Ok((table, v2))
}

fn check_size(path: &Path, what: &str, got: usize, want: usize) -> Result<()> {
    if got < want {
        return Err(bad_table(
            path,
            format!("{what} is {got} bytes, expected at least {want}"),
        ));
    }
    Ok(())
}

impl Plugin {
    /// The version-2 table, present whenever a version-2 kind was declared.
    fn v2(&self) -> &PluginV2 {
        self.lib
            .table_v2()
            .expect("version-2 component of a version-2 plugin")
    }

    /// Creates the feature loss `name` (ABI version 2) and checks its capability bits.
    pub fn feature_loss(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginFeatureLoss> {
        self.check_component(ComponentKind::FeatureLoss, name)?;
        let create = self.v2().create_feature_loss;
        let make = |n, c, i, out, err| unsafe { create(n, c, i, out, err) };
        let c = self.create(ComponentKind::FeatureLoss, name, config, data, make)?;
        let bits = unsafe { (self.v2().feature_loss.caps)(c.h) };
        let needs = lt_plugin::Needs::from_bits(bits).ok_or_else(|| {
            c.cx.contract(format!(
                "declares capability bits {bits:#x}, but ABI version 2 defines only {:#x}",
                abi::CAP_LOSS_ALL
            ))
        })?;
        Ok(PluginFeatureLoss { c, needs })
    }

    /// Creates the model `name` (ABI version 2) and checks its branch count and capabilities.
    pub fn model(
        &self,
        name: &str,
        config: &serde_json::Value,
        data: &DatasetInfo,
    ) -> Result<PluginModel> {
        self.check_component(ComponentKind::Model, name)?;
        let create = self.v2().create_model;
        let make = |n, c, i, out, err| unsafe { create(n, c, i, out, err) };
        let c = self.create(ComponentKind::Model, name, config, data, make)?;
        let m = &self.v2().model;
        let (caps, branches) = unsafe { ((m.caps)(c.h), (m.branches)(c.h)) };
        if caps & !abi::CAP_MODEL_ALL != 0 {
            return Err(c.cx.contract(format!(
                "declares capability bits {caps:#x}, but ABI version 2 defines only {:#x}",
                abi::CAP_MODEL_ALL
            )));
        }
        if branches == 0 {
            return Err(c
                .cx
                .contract("declares 0 branches (experts); a model needs at least 1".to_string()));
        }
        let labels = caps & abi::CAP_MODEL_TRAIN_LABELS != 0;
        if labels && !self.v2().has_model_ext() {
            return Err(c.cx.contract(
                "asks for labels in training, but its table (an older SDK's) has no forward_train"
                    .to_string(),
            ));
        }
        let adapt_epochs = unsafe { (m.adapt_epochs)(c.h) };
        Ok(PluginModel {
            c,
            labels,
            branches: branches as usize,
            num_classes: data.num_classes as i64,
            adapt_epochs: if caps & abi::CAP_MODEL_TEST_ADAPT != 0 {
                adapt_epochs as usize
            } else {
                0
            },
        })
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
            abi::KIND_FEATURE_LOSS if t.abi_version >= 2 => ComponentKind::FeatureLoss,
            abi::KIND_MODEL if t.abi_version >= 2 => ComponentKind::Model,
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
        abi_version: t.abi_version,
    })
}

fn bad_table(path: &Path, reason: impl Into<String>) -> PluginError {
    PluginError::BadTable {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
