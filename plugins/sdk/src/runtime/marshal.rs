//! Between C and Rust values: the panic guard every entry point runs in, borrowed and handed-out
//! tensors, strings, the dataset info, component handles and the registry lookup.

use super::registry::Entry;
use crate::abi::*;
use crate::{Config, DatasetInfo, Error, Result};
use std::any::Any;
use std::ffi::c_void;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Tensor};

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
pub(super) unsafe fn guard(err: *mut LtErr, f: impl FnOnce() -> Result<()>) -> i32 {
    let (status, msg) = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => return LT_OK,
        Ok(Err(e)) => (LT_ERR, e.to_string()),
        Err(p) => (LT_PANIC, panic_message(p)),
    };
    if let Some(err) = err.as_ref() {
        (err.set)(err.ctx, LtStr::new(&msg));
    }
    status
}

/// Borrows a host tensor without taking ownership (it must not be freed here).
pub(super) unsafe fn borrow(p: *mut c_void, what: &'static str) -> Result<ManuallyDrop<Tensor>> {
    if p.is_null() {
        return Err(Error::NullTensor(what));
    }
    Ok(ManuallyDrop::new(Tensor::from_ptr(p as *mut _)))
}

/// Borrows `n` host tensors (an array of handles), each shallow-cloned: the clones share storage
/// and autograd history and free only their own handle.
pub(super) unsafe fn borrow_list(
    p: *const *mut c_void,
    n: usize,
    what: &'static str,
) -> Result<Vec<Tensor>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(Error::NullTensor(what));
    }
    std::slice::from_raw_parts(p, n)
        .iter()
        .map(|&t| Ok(borrow(t, what)?.shallow_clone()))
        .collect()
}

/// Hands an owned tensor to the host.
pub(super) fn give(mut t: Tensor) -> *mut c_void {
    let p = t.as_mut_ptr() as *mut c_void;
    std::mem::forget(t);
    p
}

unsafe fn read_str<'a>(s: LtStr, what: &'static str) -> Result<&'a str> {
    match s.get() {
        None => Ok(""),
        Some(Ok(s)) => Ok(s),
        Some(Err(_)) => Err(Error::NotUtf8(what)),
    }
}

unsafe fn read_info(info: *const LtDatasetInfo) -> Result<DatasetInfo> {
    let info = info.as_ref().ok_or(Error::Null("dataset info"))?;
    let counts = if info.class_counts.is_null() || info.class_counts_len == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(info.class_counts, info.class_counts_len).to_vec()
    };
    let device = match info.device {
        -1 => Device::Cpu,
        -2 => Device::Mps,
        n if n >= 0 => Device::Cuda(n as usize),
        n => return Err(Error::UnknownDevice(n)),
    };
    Ok(DatasetInfo {
        num_classes: info.num_classes as usize,
        class_counts: counts,
        feature_dim: info.feature_dim as usize,
        seed: info.seed,
        device,
    })
}

/// What the `create_*` entry points read from the host, decoded: the registry entry named, the
/// config and the dataset info.
pub(super) unsafe fn read_create_args<'a, F>(
    list: &'a [Entry<F>],
    kind: &'static str,
    (name, config, info): (LtStr, LtStr, *const LtDatasetInfo),
) -> Result<(&'a Entry<F>, Config, DatasetInfo)> {
    let name = read_str(name, "component name")?;
    let entry = list.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = list.iter().map(|e| e.name).collect();
        Error::NoComponent {
            kind,
            name: name.to_string(),
            available: names.join(", "),
        }
    })?;
    let cfg = Config::from_json(read_str(config, "config")?)?;
    Ok((entry, cfg, read_info(info)?))
}

/// Hands a new component to the host as an opaque handle (a `Box<Box<T>>`).
pub(super) unsafe fn hand_out<T: ?Sized>(obj: Box<T>, out: *mut Handle) {
    *out = Box::into_raw(Box::new(obj)) as Handle;
}

/// The component behind a handle; `what` names the handle kind for the error.
pub(super) unsafe fn component<'a, T: ?Sized>(
    h: Handle,
    what: &'static str,
) -> Result<&'a mut Box<T>> {
    (h as *mut Box<T>).as_mut().ok_or(Error::Null(what))
}

/// Frees a component handle; a panicking `Drop` does not unwind into the host.
pub(super) unsafe extern "C" fn destroy<T: ?Sized>(h: Handle) {
    if !h.is_null() {
        // The object is gone either way.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(h as *mut Box<T>))));
    }
}
