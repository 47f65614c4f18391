//! What `export_plugin!` declares, and the tables built from it once per library: version 1,
//! and version 2 which starts with a copy of it.

use super::{calls, calls_v2};
use crate::abi::*;
use crate::{FeatureLoss, Head, Loss, MakeFn, MakeSamplerFn, Model};
use std::panic::catch_unwind;
use std::sync::OnceLock;

/// A component constructor registered by the macro: `F` is [`MakeFn`] for losses and heads,
/// [`MakeSamplerFn`] for samplers.
pub struct Entry<F> {
    pub name: &'static str,
    pub doc: &'static str,
    pub make: F,
}

/// Everything `export_plugin!` declares.
pub struct Registry {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub recipe: Option<&'static str>,
    pub losses: Vec<Entry<MakeFn<dyn Loss>>>,
    pub heads: Vec<Entry<MakeFn<dyn Head>>>,
    pub samplers: Vec<Entry<MakeSamplerFn>>,
    pub feature_losses: Vec<Entry<MakeFn<dyn FeatureLoss>>>,
    pub models: Vec<Entry<MakeFn<dyn Model>>>,
}

impl Registry {
    /// The lowest ABI version that carries every declared component.
    fn abi(&self) -> u32 {
        if self.feature_losses.is_empty() && self.models.is_empty() {
            ABI_V1
        } else {
            ABI_VERSION
        }
    }
}

/// The table plus the storage its pointers refer to.
struct Holder {
    registry: Registry,
    _components: Vec<LtComponent>,
    table: PluginV1,
    table_v2: PluginV2,
}

// The raw pointers inside point into `registry` (static strings) and `_components`, which are
// never mutated after construction.
unsafe impl Send for Holder {}
unsafe impl Sync for Holder {}

static HOLDER: OnceLock<Option<Holder>> = OnceLock::new();

/// The registry `lt_plugin_v1` built; the host calls that before creating any component.
pub(super) fn registry() -> &'static Registry {
    &HOLDER
        .get()
        .and_then(|h| h.as_ref())
        .expect("lt_plugin_v1 not called before creating a component")
        .registry
}

fn holder(build: fn() -> Registry) -> Option<&'static Holder> {
    HOLDER
        .get_or_init(|| catch_unwind(|| make_holder(build())).ok())
        .as_ref()
}

/// The version `lt_plugin_abi_version` reports (building the registry once); 0 if building it
/// panicked, which no host accepts.
pub fn abi_version(build: fn() -> Registry) -> u32 {
    holder(build).map_or(0, |h| h.registry.abi())
}

/// Builds (once) and returns the version-1 table; null if the registry panicked or declares
/// version-2 components (a version-1 host must not use it).
pub fn table(build: fn() -> Registry) -> *const PluginV1 {
    match holder(build) {
        Some(h) if h.registry.abi() == ABI_V1 => &h.table,
        _ => std::ptr::null(),
    }
}

/// Builds (once) and returns the version-2 table; null if the registry panicked.
pub fn table_v2(build: fn() -> Registry) -> *const PluginV2 {
    holder(build).map_or(std::ptr::null(), |h| &h.table_v2)
}

fn make_holder(registry: Registry) -> Holder {
    let mut components = Vec::new();
    for e in &registry.samplers {
        components.push(component(KIND_SAMPLER, e.name, e.doc));
    }
    for e in &registry.losses {
        components.push(component(KIND_LOSS, e.name, e.doc));
    }
    for e in &registry.heads {
        components.push(component(KIND_HEAD, e.name, e.doc));
    }
    for e in &registry.feature_losses {
        components.push(component(KIND_FEATURE_LOSS, e.name, e.doc));
    }
    for e in &registry.models {
        components.push(component(KIND_MODEL, e.name, e.doc));
    }
    let table = table_v1(&registry, &components, ABI_V1);
    let table_v2 = PluginV2 {
        v1: table_v1(&registry, &components, ABI_VERSION),
        size: std::mem::size_of::<PluginV2>(),
        create_feature_loss: calls::create::<dyn FeatureLoss>,
        create_model: calls::create::<dyn Model>,
        feature_loss: calls_v2::FEATURE_LOSS,
        model: calls_v2::MODEL,
        model_ext: calls_v2::MODEL_EXT,
    };
    Holder {
        registry,
        _components: components,
        table,
        table_v2,
    }
}

/// The version-1 part of the tables; `components` must outlive it.
fn table_v1(registry: &Registry, components: &[LtComponent], abi_version: u32) -> PluginV1 {
    PluginV1 {
        abi_version,
        size: std::mem::size_of::<PluginV1>(),
        tch_version: LtStr::new(TCH_VERSION),
        sdk_version: LtStr::new(env!("CARGO_PKG_VERSION")),
        name: LtStr::new(registry.name),
        version: LtStr::new(registry.version),
        description: LtStr::new(registry.description),
        recipe: registry.recipe.map_or(LtStr::NONE, LtStr::new),
        components: components.as_ptr(),
        num_components: components.len(),
        create_loss: calls::create::<dyn Loss>,
        create_head: calls::create::<dyn Head>,
        create_sampler: calls::create_sampler,
        loss: calls::LOSS,
        head: calls::HEAD,
        sampler: calls::SAMPLER,
    }
}

fn component(kind: u32, name: &'static str, doc: &'static str) -> LtComponent {
    LtComponent {
        kind,
        name: LtStr::new(name),
        doc: LtStr::new(doc),
    }
}
