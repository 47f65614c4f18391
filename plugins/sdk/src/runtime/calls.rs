//! The `extern "C"` functions of the version-1 table: creating components and calling them.
//! Each decodes its arguments (module `marshal`), calls the safe trait inside the panic guard
//! and encodes the result.

use super::marshal::{borrow, component, destroy, give, guard, hand_out, read_create_args};
use super::registry::{registry, Entry};
use crate::abi::*;
use crate::{Error, Head, Loss, MakeFn, NamedTensor, Sampler};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The loss functions of the table.
pub(super) const LOSS: LossV1 = LossV1 {
    forward: loss_forward,
    adjust_logits: loss_adjust_logits,
    on_epoch: loss_on_epoch,
    destroy: destroy::<dyn Loss>,
};

/// The head functions of the table.
pub(super) const HEAD: HeadV1 = HeadV1 {
    caps: head_caps,
    forward: head_forward,
    named_tensors: head_named_tensors,
    init_from_linear: head_init_from_linear,
    fit: head_fit,
    destroy: destroy::<dyn Head>,
};

/// The sampler functions of the table.
pub(super) const SAMPLER: SamplerV1 = SamplerV1 {
    epoch_indices: sampler_epoch_indices,
    destroy: destroy::<dyn Sampler>,
};

/// Loss and head components: the registry list their entries are in, and their kind's name.
pub(super) trait Registered {
    const KIND: &'static str;
    fn entries() -> &'static [Entry<MakeFn<Self>>];
}

impl Registered for dyn Loss {
    const KIND: &'static str = "loss";
    fn entries() -> &'static [Entry<MakeFn<Self>>] {
        &registry().losses
    }
}

impl Registered for dyn Head {
    const KIND: &'static str = "head";
    fn entries() -> &'static [Entry<MakeFn<Self>>] {
        &registry().heads
    }
}

/// Runs `f` on the component behind `h` inside the panic guard; a null handle is an error
/// naming `what`.
pub(super) unsafe fn on<T: ?Sized>(
    h: Handle,
    what: &'static str,
    err: *mut LtErr,
    f: impl FnOnce(&mut Box<T>) -> crate::Result<()>,
) -> i32 {
    guard(err, || f(component::<T>(h, what)?))
}

/// `create_loss` and `create_head`.
pub(super) unsafe extern "C" fn create<T: ?Sized + Registered + 'static>(
    name: LtStr,
    config: LtStr,
    info: *const LtDatasetInfo,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let (entry, cfg, info) = read_create_args(T::entries(), T::KIND, (name, config, info))?;
        hand_out((entry.make)(&cfg, &info)?, out);
        Ok(())
    })
}

pub(super) unsafe extern "C" fn create_sampler(
    name: LtStr,
    config: LtStr,
    info: *const LtDatasetInfo,
    labels: *const u32,
    num_labels: usize,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32 {
    guard(err, || {
        let (entry, cfg, info) =
            read_create_args(&registry().samplers, "sampler", (name, config, info))?;
        let labels: &[u32] = if labels.is_null() || num_labels == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(labels, num_labels)
        };
        hand_out((entry.make)(&cfg, &info, labels)?, out);
        Ok(())
    })
}

unsafe extern "C" fn loss_forward(
    h: Handle,
    logits: *mut c_void,
    targets: *mut c_void,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn Loss>| {
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
    on(h, "loss handle", err, |l: &mut Box<dyn Loss>| {
        let logits = borrow(logits, "logits")?;
        *out = match l.adjust_logits(&logits)? {
            Some(t) => give(t),
            None => std::ptr::null_mut(),
        };
        Ok(())
    })
}

unsafe extern "C" fn loss_on_epoch(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn Loss>| {
        l.on_epoch(&ctx.as_ref().copied().unwrap_or_default())
    })
}

unsafe extern "C" fn head_caps(h: Handle) -> u32 {
    catch_unwind(AssertUnwindSafe(|| {
        let Ok(hd) = component::<dyn Head>(h, "head handle") else {
            return 0;
        };
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
    on(h, "head handle", err, |hd: &mut Box<dyn Head>| {
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
    on(h, "head handle", err, |hd: &mut Box<dyn Head>| {
        push_named(sink, hd.named_tensors())
    })
}

/// Hands every tensor of a component's `named_tensors` to the host's sink.
pub(super) unsafe fn push_named(
    sink: *mut LtTensorSink,
    list: Vec<NamedTensor>,
) -> crate::Result<()> {
    let sink = sink.as_ref().ok_or(Error::Null("tensor sink"))?;
    for NamedTensor {
        name,
        tensor,
        trainable,
    } in list
    {
        (sink.push)(sink.ctx, LtStr::new(&name), give(tensor), trainable as u8);
    }
    Ok(())
}

unsafe extern "C" fn head_init_from_linear(
    h: Handle,
    weight: *mut c_void,
    bias: *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "head handle", err, |hd: &mut Box<dyn Head>| {
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
    on(h, "head handle", err, |hd: &mut Box<dyn Head>| {
        let f = borrow(features, "features")?;
        let l = borrow(labels, "labels")?;
        hd.fit(&f, &l)
    })
}

unsafe extern "C" fn sampler_epoch_indices(
    h: Handle,
    epoch: u32,
    sink: *mut LtU32Sink,
    err: *mut LtErr,
) -> i32 {
    on(h, "sampler handle", err, |s: &mut Box<dyn Sampler>| {
        let sink = sink.as_ref().ok_or(Error::Null("index sink"))?;
        let idx = s.epoch_indices(epoch)?;
        (sink.push)(sink.ctx, idx.as_ptr(), idx.len());
        Ok(())
    })
}
