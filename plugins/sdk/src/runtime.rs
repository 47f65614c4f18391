//! Plugin-side glue behind [`export_plugin!`](crate::export_plugin): the registry of components
//! and the `extern "C"` functions of the tables. Every entry point catches panics.
//!
//! Each plugin library links its own copy of this crate, so the statics below are per plugin.

use crate::abi::*;
use crate::{Config, DatasetInfo, Head, Loss, NamedTensor, PluginError, Sampler};
use std::any::Any;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use tch::{Device, Tensor};

/// A loss or head constructor registered by the macro.
pub struct Entry<T: ?Sized> {
    pub name: &'static str,
    pub doc: &'static str,
    pub make: crate::MakeFn<T>,
}

/// A sampler constructor registered by the macro.
pub struct SamplerEntry {
    pub name: &'static str,
    pub doc: &'static str,
    pub make: crate::MakeSamplerFn,
}

/// Everything `export_plugin!` declares.
pub struct Registry {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub recipe: Option<&'static str>,
    pub losses: Vec<Entry<dyn Loss>>,
    pub heads: Vec<Entry<dyn Head>>,
    pub samplers: Vec<SamplerEntry>,
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

fn registry() -> &'static Registry {
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
        create_loss,
        create_head,
        create_sampler,
        loss: LossV1 {
            forward: loss_forward,
            adjust_logits: loss_adjust_logits,
            on_epoch: loss_on_epoch,
            destroy: loss_destroy,
        },
        head: HeadV1 {
            caps: head_caps,
            forward: head_forward,
            named_tensors: head_named_tensors,
            init_from_linear: head_init_from_linear,
            fit: head_fit,
            destroy: head_destroy,
        },
        sampler: SamplerV1 {
            epoch_indices: sampler_epoch_indices,
            destroy: sampler_destroy,
        },
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

fn panic_message(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f`, turning `Err` into [`LT_ERR`] and a panic into [`LT_PANIC`], message into `err`.
unsafe fn guard(err: *mut LtErr, f: impl FnOnce() -> Result<(), PluginError>) -> i32 {
    let (status, msg) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return LT_OK,
        Ok(Err(e)) => (LT_ERR, e.0),
        Err(p) => (LT_PANIC, panic_message(p)),
    };
    if let Some(err) = err.as_ref() {
        (err.set)(err.ctx, LtStr::new(&msg));
    }
    status
}

/// Borrows a host tensor without taking ownership (it must not be freed here).
unsafe fn borrow(p: *mut c_void, what: &str) -> Result<ManuallyDrop<Tensor>, PluginError> {
    if p.is_null() {
        return Err(PluginError(format!("{what}: null tensor handle")));
    }
    Ok(ManuallyDrop::new(Tensor::from_ptr(p as *mut _)))
}

/// Hands an owned tensor to the host.
fn give(mut t: Tensor) -> *mut c_void {
    let p = t.as_mut_ptr() as *mut c_void;
    std::mem::forget(t);
    p
}

unsafe fn read_str<'a>(s: LtStr, what: &str) -> Result<&'a str, PluginError> {
    match s.get() {
        None => Ok(""),
        Some(Ok(s)) => Ok(s),
        Some(Err(_)) => Err(PluginError(format!("{what} is not UTF-8"))),
    }
}

unsafe fn read_info(info: *const LtDatasetInfo) -> Result<DatasetInfo, PluginError> {
    let info = info
        .as_ref()
        .ok_or_else(|| PluginError::new("null dataset info"))?;
    let counts = if info.class_counts.is_null() || info.class_counts_len == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(info.class_counts, info.class_counts_len).to_vec()
    };
    let device = match info.device {
        -1 => Device::Cpu,
        -2 => Device::Mps,
        n if n >= 0 => Device::Cuda(n as usize),
        n => return Err(PluginError(format!("unknown device code {n}"))),
    };
    Ok(DatasetInfo {
        num_classes: info.num_classes as usize,
        class_counts: counts,
        feature_dim: info.feature_dim as usize,
        seed: info.seed,
        device,
    })
}

fn find<'a, T>(
    list: &'a [T],
    name: &str,
    get: impl Fn(&T) -> &str,
    kind: &str,
) -> Result<&'a T, PluginError> {
    list.iter().find(|e| get(e) == name).ok_or_else(|| {
        let names: Vec<&str> = list.iter().map(get).collect();
        PluginError(format!(
            "no {kind} named `{name}` (available: {})",
            names.join(", ")
        ))
    })
}

unsafe extern "C" fn create_loss(
    name: LtStr,
    config: LtStr,
    info: *const LtDatasetInfo,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let name = read_str(name, "component name")?;
        let entry = find(&registry().losses, name, |e| e.name, "loss")?;
        let cfg = Config::from_json(read_str(config, "config")?)?;
        let obj: Box<dyn Loss> = (entry.make)(&cfg, &read_info(info)?)?;
        *out = Box::into_raw(Box::new(obj)) as Handle;
        Ok(())
    })
}

unsafe extern "C" fn create_head(
    name: LtStr,
    config: LtStr,
    info: *const LtDatasetInfo,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let name = read_str(name, "component name")?;
        let entry = find(&registry().heads, name, |e| e.name, "head")?;
        let cfg = Config::from_json(read_str(config, "config")?)?;
        let obj: Box<dyn Head> = (entry.make)(&cfg, &read_info(info)?)?;
        *out = Box::into_raw(Box::new(obj)) as Handle;
        Ok(())
    })
}

unsafe extern "C" fn create_sampler(
    name: LtStr,
    config: LtStr,
    info: *const LtDatasetInfo,
    labels: *const u32,
    num_labels: usize,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let name = read_str(name, "component name")?;
        let entry = find(&registry().samplers, name, |e| e.name, "sampler")?;
        let cfg = Config::from_json(read_str(config, "config")?)?;
        let labels: &[u32] = if labels.is_null() || num_labels == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(labels, num_labels)
        };
        let obj: Box<dyn Sampler> = (entry.make)(&cfg, &read_info(info)?, labels)?;
        *out = Box::into_raw(Box::new(obj)) as Handle;
        Ok(())
    })
}

unsafe fn loss<'a>(h: Handle) -> Result<&'a mut Box<dyn Loss>, PluginError> {
    (h as *mut Box<dyn Loss>)
        .as_mut()
        .ok_or_else(|| PluginError::new("null loss handle"))
}

unsafe fn head<'a>(h: Handle) -> Result<&'a mut Box<dyn Head>, PluginError> {
    (h as *mut Box<dyn Head>)
        .as_mut()
        .ok_or_else(|| PluginError::new("null head handle"))
}

unsafe extern "C" fn loss_forward(
    h: Handle,
    logits: *mut c_void,
    targets: *mut c_void,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let l = loss(h)?;
        let logits = borrow(logits, "logits")?;
        let targets = borrow(targets, "targets")?;
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        *out = give(l.forward(&logits, &targets, &ctx)?);
        Ok(())
    })
}

unsafe extern "C" fn loss_adjust_logits(
    h: Handle,
    logits: *mut c_void,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let l = loss(h)?;
        let logits = borrow(logits, "logits")?;
        *out = match l.adjust_logits(&logits)? {
            Some(t) => give(t),
            None => std::ptr::null_mut(),
        };
        Ok(())
    })
}

unsafe extern "C" fn loss_on_epoch(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32 {
    guard(err, || {
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        loss(h)?.on_epoch(&ctx)
    })
}

unsafe extern "C" fn loss_destroy(h: Handle) {
    if !h.is_null() {
        // A panicking Drop must not unwind into the host; the object is gone either way.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(h as *mut Box<dyn Loss>))
        }));
    }
}

unsafe extern "C" fn head_caps(h: Handle) -> u32 {
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(hd) = head(h) else { return 0 };
        let mut caps = 0;
        if hd.wants_linear_init() {
            caps |= CAP_HEAD_LINEAR_INIT;
        }
        if hd.needs_fit() {
            caps |= CAP_HEAD_NEEDS_FIT;
        }
        caps
    }))
    .unwrap_or(0)
}

unsafe extern "C" fn head_forward(
    h: Handle,
    features: *mut c_void,
    train: u8,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let hd = head(h)?;
        let f = borrow(features, "features")?;
        *out = give(hd.forward(&f, train != 0)?);
        Ok(())
    })
}

unsafe extern "C" fn head_named_tensors(
    h: Handle,
    sink: *mut LtTensorSink,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let hd = head(h)?;
        let sink = sink
            .as_ref()
            .ok_or_else(|| PluginError::new("null tensor sink"))?;
        for NamedTensor {
            name,
            tensor,
            trainable,
        } in hd.named_tensors()
        {
            (sink.push)(sink.ctx, LtStr::new(&name), give(tensor), trainable as u8);
        }
        Ok(())
    })
}

unsafe extern "C" fn head_init_from_linear(
    h: Handle,
    weight: *mut c_void,
    bias: *mut c_void,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let hd = head(h)?;
        let w = borrow(weight, "weight")?;
        let b = if bias.is_null() {
            None
        } else {
            Some(borrow(bias, "bias")?)
        };
        hd.init_from_linear(&w, b.as_deref())
    })
}

unsafe extern "C" fn head_fit(
    h: Handle,
    features: *mut c_void,
    labels: *mut c_void,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let hd = head(h)?;
        let f = borrow(features, "features")?;
        let l = borrow(labels, "labels")?;
        hd.fit(&f, &l)
    })
}

unsafe extern "C" fn head_destroy(h: Handle) {
    if !h.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(h as *mut Box<dyn Head>))
        }));
    }
}

unsafe extern "C" fn sampler_epoch_indices(
    h: Handle,
    epoch: u32,
    sink: *mut LtU32Sink,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let s = (h as *mut Box<dyn Sampler>)
            .as_mut()
            .ok_or_else(|| PluginError::new("null sampler handle"))?;
        let sink = sink
            .as_ref()
            .ok_or_else(|| PluginError::new("null index sink"))?;
        let idx = s.epoch_indices(epoch)?;
        (sink.push)(sink.ctx, idx.as_ptr(), idx.len());
        Ok(())
    })
}

unsafe extern "C" fn sampler_destroy(h: Handle) {
    if !h.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(Box::from_raw(h as *mut Box<dyn Sampler>))
        }));
    }
}
