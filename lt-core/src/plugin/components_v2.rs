//! Safe wrappers around the version-2 components: [`PluginFeatureLoss`] and [`PluginModel`].
//! Their outputs are checked against the ABI's rules (shapes, counts) before the trainer sees
//! them, so a broken plugin is a one-line [`PluginError::Contract`], not a libtorch error later.

use super::call::{arg, CallCtx};
use super::components::Handle;
use super::{LossInput, NamedTensor, Needs, PluginError, Result, StepCtx};
use lt_plugin::abi::{LtLossArgs, PluginV2};
use std::ffi::c_void;
use tch::Tensor;

fn opt(t: Option<&Tensor>) -> *mut c_void {
    t.map_or(std::ptr::null_mut(), arg)
}

fn table(cx: &CallCtx) -> &PluginV2 {
    cx.lib
        .table_v2()
        .expect("version-2 component of a version-2 plugin")
}

/// A feature loss created by a plugin. Dropping it destroys the plugin-side object.
pub struct PluginFeatureLoss {
    pub(super) c: Handle,
    pub(super) needs: Needs,
}

impl PluginFeatureLoss {
    pub fn name(&self) -> &str {
        &self.c.cx.component
    }

    /// What the loss asked for when it was created.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// The scalar loss, with its autograd graph back to the inputs.
    pub fn forward(&mut self, a: &LossInput, ctx: &StepCtx) -> Result<Tensor> {
        let experts: Vec<*mut c_void> = a.experts.iter().map(arg).collect();
        let args = LtLossArgs {
            logits: arg(a.logits),
            targets: arg(a.targets),
            features: opt(a.features),
            head_weight: opt(a.head_weight),
            experts: experts.as_ptr(),
            num_experts: experts.len(),
            targets2: opt(a.targets2),
            features2: opt(a.features2),
            logits2: opt(a.logits2),
        };
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = table(&self.c.cx);
        self.c.cx.call("forward", |err| unsafe {
            (t.feature_loss.forward)(self.c.h, &args, ctx, &mut out, err)
        })?;
        let l = self.c.cx.take("forward", out)?;
        if l.numel() != 1 {
            return Err(self.c.cx.contract(format!(
                "forward returned a loss of shape {:?}, expected a scalar",
                l.size()
            )));
        }
        Ok(l)
    }

    /// Eval-time logit adjustment; `None` when the loss leaves logits unchanged.
    pub fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let t = table(&self.c.cx);
        self.c.cx.call("adjust_logits", |err| unsafe {
            (t.feature_loss.adjust_logits)(self.c.h, arg(logits), &mut out, err)
        })?;
        if out.is_null() {
            Ok(None)
        } else {
            self.c.cx.take("adjust_logits", out).map(Some)
        }
    }

    pub fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        let t = table(&self.c.cx);
        self.c.cx.call("on_epoch", |err| unsafe {
            (t.feature_loss.on_epoch)(self.c.h, ctx, err)
        })
    }

    /// The loss's own state tensors (sharing storage with it).
    pub fn named_tensors(&mut self) -> Result<Vec<NamedTensor>> {
        let t = table(&self.c.cx);
        self.c.cx.tensors("named_tensors", |sink, err| unsafe {
            (t.feature_loss.named_tensors)(self.c.h, sink, err)
        })
    }
}

/// What a model returns for a batch: the logits the loss and evaluation see, each branch's,
/// in training (from a model that trains on labels) a term added to the stage's loss, and in
/// evaluation how many branches each image used (a router's count).
pub struct ModelOut {
    pub logits: Tensor,
    pub experts: Vec<Tensor>,
    pub loss: Option<Tensor>,
    /// [B] int64, checked to lie in 1..=branches; `None`: every image used every branch.
    pub used: Option<Tensor>,
}

/// A model (branches on a shared trunk) created by a plugin.
pub struct PluginModel {
    pub(super) c: Handle,
    pub(super) branches: usize,
    pub(super) num_classes: i64,
    pub(super) adapt_epochs: usize,
    /// Training calls `forward_train` with the labels (`CAP_MODEL_TRAIN_LABELS`).
    pub(super) labels: bool,
}

impl PluginModel {
    pub fn name(&self) -> &str {
        &self.c.cx.component
    }

    /// How many branches the trunk carries (at least 1).
    pub fn branches(&self) -> usize {
        self.branches
    }

    /// Passes over the test images before evaluation; 0 when the model does not adapt.
    pub fn adapt_epochs(&self) -> usize {
        self.adapt_epochs
    }

    /// Whether training forwards carry the labels and may return a loss term.
    pub fn trains_on_labels(&self) -> bool {
        self.labels
    }

    /// Tells the model that stage `stage` starts (a no-op for a table without the call).
    pub fn begin_stage(&mut self, stage: u32) -> Result<()> {
        let t = table(&self.c.cx);
        if !t.has_model_ext() {
            return Ok(());
        }
        self.c.cx.call("begin_stage", |err| unsafe {
            (t.model_ext.begin_stage)(self.c.h, stage, err)
        })
    }

    /// `features[i]` [B,D] of branch i -> logits and each branch's logits, all [B,K] (checked).
    /// `targets` are the batch's labels in training, `None` in evaluation. A model that trains
    /// on labels gets them (`forward_train`) and may return a scalar loss term; in evaluation a
    /// table with the later calls says how many branches each image used (`forward_eval`).
    pub fn forward(
        &mut self,
        features: &[Tensor],
        targets: Option<&Tensor>,
        ctx: &StepCtx,
    ) -> Result<ModelOut> {
        if features.len() != self.branches {
            return Err(self.c.cx.contract(format!(
                "the host has {} feature tensors for {} branches",
                features.len(),
                self.branches
            )));
        }
        let ptrs: Vec<*mut c_void> = features.iter().map(arg).collect();
        // `extra`: the loss term in training, the branch counts in evaluation.
        let (mut out, mut extra) = (std::ptr::null_mut(), std::ptr::null_mut());
        let t = table(&self.c.cx);
        let (h, n, p, ext) = (self.c.h, ptrs.len(), ptrs.as_ptr(), t.has_model_ext());
        let experts = self.c.cx.tensors("forward", |sink, err| unsafe {
            let (o, x) = (&mut out, &mut extra);
            match targets {
                Some(y) if self.labels => {
                    (t.model_ext.forward_train)(h, p, n, arg(y), ctx, o, sink, x, err)
                }
                None if ext => (t.model_ext.forward_eval)(h, p, n, ctx, o, sink, x, err),
                _ => (t.model.forward)(h, p, n, targets.is_some() as u8, ctx, o, sink, err),
            }
        });
        // Own every returned tensor before looking at the experts' result, so nothing leaks.
        let logits = self.c.cx.take_opt("forward", out)?;
        let extra = self.c.cx.take_opt("forward", extra)?;
        let experts: Vec<Tensor> = experts?.into_iter().map(|n| n.tensor).collect();
        let logits =
            logits.ok_or_else(|| self.c.cx.contract("forward returned no logits".into()))?;
        let b = features.first().map_or(0, |f| f.size()[0]);
        self.check_outputs(b, &logits, &experts)?;
        let (loss, used) = match targets {
            Some(_) => (extra, None),
            None => (None, extra),
        };
        self.check_extra(b, loss.as_ref(), used.as_ref())?;
        Ok(ModelOut {
            logits,
            experts,
            loss,
            used,
        })
    }

    /// A loss term must be a scalar; branch counts [B] int64 within 1..=branches.
    fn check_extra(&self, b: i64, loss: Option<&Tensor>, used: Option<&Tensor>) -> Result<()> {
        if let Some(l) = loss.filter(|l| l.numel() != 1) {
            return Err(self.c.cx.contract(format!(
                "forward_train returned a loss of shape {:?}, expected a scalar",
                l.size()
            )));
        }
        let Some(u) = used else {
            return Ok(());
        };
        let ok = u.size() == [b]
            && u.kind() == tch::Kind::Int64
            && (b == 0
                || (u.min().int64_value(&[]) >= 1
                    && u.max().int64_value(&[]) <= self.branches as i64));
        if ok {
            return Ok(());
        }
        Err(self.c.cx.contract(format!(
            "forward_eval returned branch counts of shape {:?} ({:?}), expected [{b}] int64 in 1..={}",
            u.size(),
            u.kind(),
            self.branches
        )))
    }

    fn check_outputs(&self, b: i64, logits: &Tensor, experts: &[Tensor]) -> Result<()> {
        let want = [b, self.num_classes];
        if experts.len() != self.branches {
            return Err(self.c.cx.contract(format!(
                "forward returned {} branch logits for {} branches",
                experts.len(),
                self.branches
            )));
        }
        if logits.size() != want {
            return Err(self.shape_error("logits", logits, want));
        }
        match experts.iter().position(|e| e.size() != want) {
            Some(i) => Err(self.shape_error(&format!("branch {i} logits"), &experts[i], want)),
            None => Ok(()),
        }
    }

    fn shape_error(&self, what: &str, t: &Tensor, want: [i64; 2]) -> PluginError {
        self.c.cx.contract(format!(
            "forward returned {what} of shape {:?}, expected {want:?} (batch, classes)",
            t.size()
        ))
    }

    /// Every state tensor (sharing storage with the model).
    pub fn named_tensors(&mut self) -> Result<Vec<NamedTensor>> {
        let t = table(&self.c.cx);
        self.c.cx.tensors("named_tensors", |sink, err| unsafe {
            (t.model.named_tensors)(self.c.h, sink, err)
        })
    }

    pub fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        let t = table(&self.c.cx);
        self.c.cx.call("on_epoch", |err| unsafe {
            (t.model.on_epoch)(self.c.h, ctx, err)
        })
    }

    /// Starts a test-time adaptation afresh.
    pub fn adapt_begin(&mut self) -> Result<()> {
        let t = table(&self.c.cx);
        self.c.cx.call("adapt_begin", |err| unsafe {
            (t.model.adapt_begin)(self.c.h, err)
        })
    }

    /// One batch of test images: each branch's logits for two views.
    pub fn adapt(&mut self, view1: &[Tensor], view2: &[Tensor]) -> Result<()> {
        if view1.len() != self.branches || view2.len() != self.branches {
            return Err(self.c.cx.contract(format!(
                "adapt needs {} branch logits per view",
                self.branches
            )));
        }
        let a: Vec<*mut c_void> = view1.iter().map(arg).collect();
        let b: Vec<*mut c_void> = view2.iter().map(arg).collect();
        let t = table(&self.c.cx);
        self.c.cx.call("adapt", |err| unsafe {
            (t.model.adapt)(self.c.h, a.as_ptr(), b.as_ptr(), a.len(), err)
        })
    }
}
