//! Safe wrappers around the components a plugin creates: [`PluginLoss`], [`PluginHead`],
//! [`PluginSampler`], each around one `Handle`. Dropping one destroys the plugin-side object.

use super::call::{arg, push_u32, CallCtx};
use super::{NamedTensor, Result, StepCtx};
use lt_plugin::abi::{self, LtU32Sink};
use std::ffi::c_void;
use tch::Tensor;

/// What every component holds: its call context (which keeps the library loaded) and the
/// plugin-side handle, destroyed with `destroy` when the component is dropped.
pub(crate) struct Handle {
    pub(super) cx: CallCtx,
    pub(super) h: abi::Handle,
    pub(super) destroy: unsafe extern "C" fn(abi::Handle),
}

// The SDK requires components to be `Send`; the handle is used by one thread at a time
// (`&mut self`).
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { (self.destroy)(self.h) }
    }
}

/// A loss created by a plugin. Dropping it destroys the plugin-side object.
pub struct PluginLoss {
    pub(super) c: Handle,
}

impl PluginLoss {
    pub fn name(&self) -> &str {
        &self.c.cx.component
    }

    /// The scalar training loss for `logits` [B,K] and int64 `targets` [B], with its autograd
    /// graph back to `logits`.
    pub fn forward(&mut self, logits: &Tensor, targets: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.c.cx.lib.table();
        self.c.cx.call("forward", |err| unsafe {
            (t.loss.forward)(self.c.h, arg(logits), arg(targets), ctx, &mut out, err)
        })?;
        self.c.cx.take("forward", out)
    }

    /// Eval-time logit adjustment; `None` when this loss leaves logits unchanged.
    pub fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.c.cx.lib.table();
        self.c.cx.call("adjust_logits", |err| unsafe {
            (t.loss.adjust_logits)(self.c.h, arg(logits), &mut out, err)
        })?;
        if out.is_null() {
            Ok(None)
        } else {
            self.c.cx.take("adjust_logits", out).map(Some)
        }
    }

    /// Call at the start of every epoch, before the epoch's first `forward`.
    pub fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        let t = self.c.cx.lib.table();
        self.c.cx.call("on_epoch", |err| unsafe {
            (t.loss.on_epoch)(self.c.h, ctx, err)
        })
    }
}

/// A classifier head created by a plugin.
pub struct PluginHead {
    pub(super) c: Handle,
    pub(super) caps: u32,
}

impl PluginHead {
    pub fn name(&self) -> &str {
        &self.c.cx.component
    }

    /// Logits [B,K] for `features` [B,D].
    pub fn forward(&mut self, features: &Tensor, train: bool) -> Result<Tensor> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = self.c.cx.lib.table();
        self.c.cx.call("forward", |err| unsafe {
            (t.head.forward)(self.c.h, arg(features), train as u8, &mut out, err)
        })?;
        self.c.cx.take("forward", out)
    }

    /// Every state tensor (sharing storage with the head): give the trainable ones to the
    /// optimiser, checkpoint all; restore by `copy_` under `no_grad`.
    pub fn named_tensors(&mut self) -> Result<Vec<NamedTensor>> {
        let t = self.c.cx.lib.table();
        self.c.cx.tensors("named_tensors", |sink, err| unsafe {
            (t.head.named_tensors)(self.c.h, sink, err)
        })
    }

    /// Whether the head wants [`PluginHead::init_from_linear`] with the stage-1 classifier.
    pub fn wants_linear_init(&self) -> bool {
        self.caps & abi::CAP_HEAD_LINEAR_INIT != 0
    }

    /// Initialise from the stage-1 linear classifier: `weight` [K,D], `bias` [K].
    pub fn init_from_linear(&mut self, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
        let t = self.c.cx.lib.table();
        let b = bias.map_or(std::ptr::null_mut(), arg);
        self.c.cx.call("init_from_linear", |err| unsafe {
            (t.head.init_from_linear)(self.c.h, arg(weight), b, err)
        })
    }

    /// Whether [`PluginHead::fit`] must be called before evaluation (e.g. NCM).
    pub fn needs_fit(&self) -> bool {
        self.caps & abi::CAP_HEAD_NEEDS_FIT != 0
    }

    /// Fit non-gradient state on training `features` [N,D] and int64 `labels` [N].
    pub fn fit(&mut self, features: &Tensor, labels: &Tensor) -> Result<()> {
        let t = self.c.cx.lib.table();
        self.c.cx.call("fit", |err| unsafe {
            (t.head.fit)(self.c.h, arg(features), arg(labels), err)
        })
    }
}

/// A sampler created by a plugin.
pub struct PluginSampler {
    pub(super) c: Handle,
}

impl PluginSampler {
    pub fn name(&self) -> &str {
        &self.c.cx.component
    }

    /// Indices into the training set for `epoch` (zero-based).
    pub fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>> {
        let mut v: Vec<u32> = Vec::new();
        let mut sink = LtU32Sink {
            ctx: &mut v as *mut Vec<u32> as *mut c_void,
            push: push_u32,
        };
        let t = self.c.cx.lib.table();
        self.c.cx.call("epoch_indices", |err| unsafe {
            (t.sampler.epoch_indices)(self.c.h, epoch, &mut sink, err)
        })?;
        Ok(v)
    }
}
