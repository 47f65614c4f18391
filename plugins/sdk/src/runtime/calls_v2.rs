//! The `extern "C"` functions of the version-2 additions: feature losses and models.

use super::calls::{on, push_named, Registered};
use super::marshal::{borrow, borrow_list, component, destroy, give};
use super::registry::{registry, Entry};
use crate::abi::*;
use crate::{Error, FeatureLoss, LossInput, MakeFn, Model, ModelOutput};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::Tensor;

/// The feature-loss functions of the table.
pub(super) const FEATURE_LOSS: FeatureLossV2 = FeatureLossV2 {
    caps: feature_loss_caps,
    forward: feature_loss_forward,
    adjust_logits: feature_loss_adjust_logits,
    on_epoch: feature_loss_on_epoch,
    named_tensors: feature_loss_named_tensors,
    destroy: destroy::<dyn FeatureLoss>,
};

/// The model functions of the table.
pub(super) const MODEL: ModelV2 = ModelV2 {
    caps: model_caps,
    branches: model_branches,
    forward: model_forward,
    named_tensors: model_named_tensors,
    on_epoch: model_on_epoch,
    adapt_epochs: model_adapt_epochs,
    adapt_begin: model_adapt_begin,
    adapt: model_adapt,
    destroy: destroy::<dyn Model>,
};

/// The model functions added after version 2's first release.
pub(super) const MODEL_EXT: ModelExtV2 = ModelExtV2 {
    begin_stage: model_begin_stage,
    forward_train: model_forward_train,
    forward_eval: model_forward_eval,
};

impl Registered for dyn FeatureLoss {
    const KIND: &'static str = "feature loss";
    fn entries() -> &'static [Entry<MakeFn<Self>>] {
        &registry().feature_losses
    }
}

impl Registered for dyn Model {
    const KIND: &'static str = "model";
    fn entries() -> &'static [Entry<MakeFn<Self>>] {
        &registry().models
    }
}

/// A `u32` query on a component; 0 when the handle is null or the query panics (the host treats
/// 0 as "nothing" or as an invalid count).
unsafe fn query<T: ?Sized>(h: Handle, what: &'static str, f: impl FnOnce(&T) -> u32) -> u32 {
    catch_unwind(AssertUnwindSafe(|| match component::<T>(h, what) {
        Ok(c) => f(&**c),
        Err(_) => 0,
    }))
    .unwrap_or(0)
}

unsafe extern "C" fn feature_loss_caps(h: Handle) -> u32 {
    query::<dyn FeatureLoss>(h, "loss handle", |l| l.needs().bits())
}

/// An optional borrowed argument, shallow-cloned (shares storage and autograd history).
unsafe fn opt(p: *mut c_void, what: &'static str) -> crate::Result<Option<tch::Tensor>> {
    if p.is_null() {
        return Ok(None);
    }
    Ok(Some(borrow(p, what)?.shallow_clone()))
}

unsafe extern "C" fn feature_loss_forward(
    h: Handle,
    args: *const LtLossArgs,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn FeatureLoss>| {
        let a = args.as_ref().ok_or(Error::Null("loss arguments"))?;
        let logits = borrow(a.logits, "logits")?;
        let targets = borrow(a.targets, "targets")?;
        let experts = borrow_list(a.experts, a.num_experts, "experts")?;
        let (features, head_weight) = (
            opt(a.features, "features")?,
            opt(a.head_weight, "head_weight")?,
        );
        let targets2 = opt(a.targets2, "targets2")?;
        let (features2, logits2) = (opt(a.features2, "features2")?, opt(a.logits2, "logits2")?);
        let input = LossInput {
            logits: &logits,
            targets: &targets,
            features: features.as_ref(),
            head_weight: head_weight.as_ref(),
            experts: &experts,
            targets2: targets2.as_ref(),
            features2: features2.as_ref(),
            logits2: logits2.as_ref(),
        };
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        *out = give(l.forward(&input, &ctx)?);
        Ok(())
    })
}

unsafe extern "C" fn feature_loss_adjust_logits(
    h: Handle,
    logits: *mut c_void,
    out: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn FeatureLoss>| {
        let logits = borrow(logits, "logits")?;
        *out = l.adjust_logits(&logits)?.map_or(std::ptr::null_mut(), give);
        Ok(())
    })
}

unsafe extern "C" fn feature_loss_on_epoch(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn FeatureLoss>| {
        l.on_epoch(&ctx.as_ref().copied().unwrap_or_default())
    })
}

unsafe extern "C" fn feature_loss_named_tensors(
    h: Handle,
    sink: *mut LtTensorSink,
    err: *mut LtErr,
) -> i32 {
    on(h, "loss handle", err, |l: &mut Box<dyn FeatureLoss>| {
        push_named(sink, l.named_tensors())
    })
}

unsafe extern "C" fn model_caps(h: Handle) -> u32 {
    query::<dyn Model>(h, "model handle", |m| {
        let adapt = if m.adapt_epochs() > 0 {
            CAP_MODEL_TEST_ADAPT
        } else {
            0
        };
        let labels = if m.trains_on_labels() {
            CAP_MODEL_TRAIN_LABELS
        } else {
            0
        };
        adapt | labels
    })
}

unsafe extern "C" fn model_branches(h: Handle) -> u32 {
    query::<dyn Model>(h, "model handle", |m| {
        u32::try_from(m.branches()).unwrap_or(0)
    })
}

unsafe extern "C" fn model_adapt_epochs(h: Handle) -> u32 {
    query::<dyn Model>(h, "model handle", |m| {
        u32::try_from(m.adapt_epochs()).unwrap_or(u32::MAX)
    })
}

#[allow(clippy::too_many_arguments)] // the C signature of `ModelV2::forward`
unsafe extern "C" fn model_forward(
    h: Handle,
    features: *const *mut c_void,
    n: usize,
    train: u8,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    experts: *mut LtTensorSink,
    err: *mut LtErr,
) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        let sink = experts.as_ref().ok_or(Error::Null("expert sink"))?;
        let features = borrow_list(features, n, "features")?;
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        let o = m.forward(&features, train != 0, &ctx)?;
        let _ = hand_over(o, out, sink);
        Ok(())
    })
}

/// Gives the host a forward's logits and branch logits; returns its loss term and branch counts.
unsafe fn hand_over(
    o: ModelOutput,
    out: *mut *mut c_void,
    sink: &LtTensorSink,
) -> (Option<Tensor>, Option<Tensor>) {
    for t in o.experts {
        (sink.push)(sink.ctx, LtStr::NONE, give(t), 0);
    }
    *out = give(o.logits);
    (o.loss, o.used)
}

fn give_opt(t: Option<Tensor>) -> *mut c_void {
    t.map_or(std::ptr::null_mut(), give)
}

#[allow(clippy::too_many_arguments)] // the C signature of `ModelExtV2::forward_eval`
unsafe extern "C" fn model_forward_eval(
    h: Handle,
    features: *const *mut c_void,
    n: usize,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    experts: *mut LtTensorSink,
    used: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        let sink = experts.as_ref().ok_or(Error::Null("expert sink"))?;
        let used = used.as_mut().ok_or(Error::Null("used"))?;
        let features = borrow_list(features, n, "features")?;
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        let o = m.forward(&features, false, &ctx)?;
        *used = give_opt(hand_over(o, out, sink).1);
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)] // the C signature of `ModelTrainV2::forward_train`
unsafe extern "C" fn model_forward_train(
    h: Handle,
    features: *const *mut c_void,
    n: usize,
    targets: *mut c_void,
    ctx: *const StepCtx,
    out: *mut *mut c_void,
    experts: *mut LtTensorSink,
    loss: *mut *mut c_void,
    err: *mut LtErr,
) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        let sink = experts.as_ref().ok_or(Error::Null("expert sink"))?;
        let loss = loss.as_mut().ok_or(Error::Null("loss"))?;
        let features = borrow_list(features, n, "features")?;
        let targets = borrow(targets, "targets")?;
        let ctx = ctx.as_ref().copied().unwrap_or_default();
        let o = m.forward_train(&features, &targets, &ctx)?;
        *loss = give_opt(hand_over(o, out, sink).0);
        Ok(())
    })
}

unsafe extern "C" fn model_begin_stage(h: Handle, stage: u32, err: *mut LtErr) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        m.begin_stage(stage)
    })
}

unsafe extern "C" fn model_named_tensors(
    h: Handle,
    sink: *mut LtTensorSink,
    err: *mut LtErr,
) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        push_named(sink, m.named_tensors())
    })
}

unsafe extern "C" fn model_on_epoch(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        m.on_epoch(&ctx.as_ref().copied().unwrap_or_default())
    })
}

unsafe extern "C" fn model_adapt_begin(h: Handle, err: *mut LtErr) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        m.adapt_begin()
    })
}

unsafe extern "C" fn model_adapt(
    h: Handle,
    view1: *const *mut c_void,
    view2: *const *mut c_void,
    n: usize,
    err: *mut LtErr,
) -> i32 {
    on(h, "model handle", err, |m: &mut Box<dyn Model>| {
        let v1 = borrow_list(view1, n, "view1")?;
        let v2 = borrow_list(view2, n, "view2")?;
        m.adapt(&v1, &v2)
    })
}
