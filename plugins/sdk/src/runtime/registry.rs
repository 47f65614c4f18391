//! What `export_plugin!` declares, and the version-1 table built from it once per library.

use super::calls;
use crate::abi::*;
use crate::{Head, Loss, MakeFn, MakeSamplerFn};
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
}

/// The table plus the storage its pointers refer to.
struct Holder {
    registry: Registry,
    _components: Vec<LtComponent>,
    table: PluginV1,
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

/// Builds (once) and returns the version-1 table; null if the registry panicked.
pub fn table(build: fn() -> Registry) -> *const PluginV1 {
    let holder = HOLDER.get_or_init(|| catch_unwind(|| make_holder(build())).ok());
    match holder {
        Some(h) => &h.table,
        None => std::ptr::null(),
    }
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
    let table = PluginV1 {
        abi_version: ABI_VERSION,
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
    };
    Holder {
        registry,
        _components: components,
        table,
    }
}

fn component(kind: u32, name: &'static str, doc: &'static str) -> LtComponent {
    LtComponent {
        kind,
        name: LtStr::new(name),
        doc: LtStr::new(doc),
    }
}
