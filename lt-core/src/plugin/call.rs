//! One call into a plugin: the error sink, the result sinks, argument conversion, and the
//! mapping of a failed status to [`PluginError::Call`].

use super::library::Lib;
use super::{ComponentKind, DatasetInfo, NamedTensor, PluginError, Result};
use lt_plugin::abi::{self, LtDatasetInfo, LtErr, LtStr, LtTensorSink};
use std::ffi::c_void;
use std::sync::Arc;
use tch::{Device, Tensor};

/// Identifies a component for error messages and keeps its library alive.
pub(super) struct CallCtx {
    pub(super) lib: Arc<Lib>,
    pub(super) kind: ComponentKind,
    pub(super) component: String,
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

pub(super) unsafe extern "C" fn push_u32(ctx: *mut c_void, data: *const u32, len: usize) {
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
pub(super) fn arg(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

impl CallCtx {
    pub(super) fn err(&self, op: &'static str, status: i32, message: String) -> PluginError {
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
    pub(super) fn call(&self, op: &'static str, f: impl FnOnce(*mut LtErr) -> i32) -> Result<()> {
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

    /// Runs a call that pushes tensors into a sink, taking ownership of whatever was pushed
    /// (even when the call fails, so nothing leaks); a null tensor is an error.
    pub(super) fn tensors(
        &self,
        op: &'static str,
        f: impl FnOnce(*mut LtTensorSink, *mut LtErr) -> i32,
    ) -> Result<Vec<NamedTensor>> {
        let mut raw: Vec<(String, *mut c_void, bool)> = Vec::new();
        let mut sink = LtTensorSink {
            ctx: &mut raw as *mut _ as *mut c_void,
            push: push_tensor,
        };
        let status = self.call(op, |err| f(&mut sink, err));
        let mut out = Vec::with_capacity(raw.len());
        let mut null = false;
        for (name, p, trainable) in raw {
            if p.is_null() {
                null = true;
                continue;
            }
            // SAFETY: the ABI transfers ownership of pushed handles to the host.
            let tensor = unsafe { Tensor::from_ptr(p as *mut _) };
            out.push(NamedTensor {
                name,
                tensor,
                trainable,
            });
        }
        status?;
        if null {
            return Err(self.err(op, abi::LT_ERR, "pushed a null tensor".into()));
        }
        Ok(out)
    }

    /// Takes ownership of a tensor the plugin returned.
    pub(super) fn take(&self, op: &'static str, p: *mut c_void) -> Result<Tensor> {
        if p.is_null() {
            return Err(self.err(op, abi::LT_ERR, "returned no tensor".to_string()));
        }
        // SAFETY: the ABI transfers ownership of result handles to the host.
        Ok(unsafe { Tensor::from_ptr(p as *mut _) })
    }

    /// As [`CallCtx::take`], for a result the component may leave null.
    pub(super) fn take_opt(&self, op: &'static str, p: *mut c_void) -> Result<Option<Tensor>> {
        if p.is_null() {
            return Ok(None);
        }
        self.take(op, p).map(Some)
    }

    /// The component broke a rule of the ABI (see [`PluginError::Contract`]).
    pub(super) fn contract(&self, reason: String) -> PluginError {
        PluginError::Contract {
            path: self.lib.info.path.clone(),
            plugin: self.lib.info.name.clone(),
            kind: self.kind,
            component: self.component.clone(),
            reason,
        }
    }

    fn bad_arg(&self, reason: String) -> PluginError {
        PluginError::BadArgument {
            plugin: self.lib.info.name.clone(),
            kind: self.kind,
            component: self.component.clone(),
            reason,
        }
    }

    pub(super) fn create(
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
