//! Test fixture: version-2 components that break the ABI's rules, each in one way, for
//! lt-core/tests/plugin_v2.rs: a model with 0 branches, models whose outputs have the wrong
//! shape or count, a model whose training loss term is not a scalar, one whose evaluation says
//! an image used 0 branches, a feature loss declaring capability bits the ABI does not define, and a
//! feature loss that asks for experts (refused without a model plugin).
//!
//! The table is the SDK's, copied once with the feature loss's `caps` replaced for
//! `bad-caps`, so the host sees exactly what a plugin with a wrong flag would send.

use lt_plugin::abi::{Handle, PluginV2, StepCtx, CAP_LOSS_ALL};
use lt_plugin::runtime::{abi_version, table_v2, Entry, Registry};
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{
    Config, DatasetInfo, FeatureLoss, LossInput, MakeFn, Model, ModelOutput, NamedTensor, Needs,
    Result,
};
use std::sync::OnceLock;

/// What a model returns, by fixture name.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    ZeroBranches,
    WideLogits,
    FewExperts,
    VectorLoss,
    ZeroUsed,
}

struct Bad {
    fault: Fault,
    k: i64,
}

impl Model for Bad {
    fn branches(&self) -> usize {
        if self.fault == Fault::ZeroBranches {
            0
        } else {
            2
        }
    }
    fn forward(&mut self, f: &[Tensor], _: bool, _: &StepCtx) -> Result<ModelOutput> {
        let b = f[0].size()[0];
        let logits = |k| Tensor::zeros([b, k], (Kind::Float, f[0].device()));
        let wide = self.fault == Fault::WideLogits;
        let experts = match self.fault {
            Fault::FewExperts => vec![logits(self.k)],
            _ => vec![logits(self.k), logits(self.k)],
        };
        Ok(ModelOutput {
            logits: logits(if wide { self.k + 1 } else { self.k }),
            experts,
            loss: None,
            // Images that used no branch at all: outside 1..=branches.
            used: (self.fault == Fault::ZeroUsed)
                .then(|| Tensor::zeros([b], (Kind::Int64, f[0].device()))),
        })
    }
    fn trains_on_labels(&self) -> bool {
        self.fault == Fault::VectorLoss
    }
    /// A loss per image instead of a scalar.
    fn forward_train(&mut self, f: &[Tensor], y: &Tensor, c: &StepCtx) -> Result<ModelOutput> {
        let mut out = self.forward(f, true, c)?;
        out.loss = Some(y.to_kind(Kind::Float));
        Ok(out)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        Vec::new()
    }
}

fn bad(fault: Fault, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    Ok(Box::new(Bad {
        fault,
        k: d.num_classes as i64,
    }))
}
fn zero_branches(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    bad(Fault::ZeroBranches, d)
}
fn wide_logits(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    bad(Fault::WideLogits, d)
}
fn few_experts(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    bad(Fault::FewExperts, d)
}
fn vector_loss(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    bad(Fault::VectorLoss, d)
}
fn zero_used(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    bad(Fault::ZeroUsed, d)
}

/// A feature loss asking for `needs`.
struct Asks(Needs);

impl FeatureLoss for Asks {
    fn needs(&self) -> Needs {
        self.0
    }
    fn forward(&mut self, x: &LossInput, _: &StepCtx) -> Result<Tensor> {
        Ok(x.logits.sum(Kind::Float))
    }
}

/// Asks for everything; the table's `caps` adds an undefined bit to exactly this set.
fn bad_caps(_: &Config, _: &DatasetInfo) -> Result<Box<dyn FeatureLoss>> {
    Ok(Box::new(Asks(
        Needs::from_bits(CAP_LOSS_ALL).expect("defined bits"),
    )))
}
fn needs_experts(_: &Config, _: &DatasetInfo) -> Result<Box<dyn FeatureLoss>> {
    Ok(Box::new(Asks(Needs {
        experts: true,
        ..Needs::default()
    })))
}

fn registry() -> Registry {
    let entry = |name, make| Entry {
        name,
        doc: "breaks a rule",
        make,
    };
    Registry {
        name: "bad-v2",
        version: "0.0.1",
        description: "test fixture",
        recipe: None,
        losses: Vec::new(),
        heads: Vec::new(),
        samplers: Vec::new(),
        feature_losses: vec![
            entry("bad-caps", bad_caps as MakeFn<dyn FeatureLoss>),
            entry("needs-experts", needs_experts),
        ],
        models: vec![
            Entry {
                name: "zero-branches",
                doc: "0 branches",
                make: zero_branches as MakeFn<dyn Model>,
            },
            Entry {
                name: "wide-logits",
                doc: "logits one class too wide",
                make: wide_logits,
            },
            Entry {
                name: "few-experts",
                doc: "one expert's logits for two branches",
                make: few_experts,
            },
            Entry {
                name: "vector-loss",
                doc: "a training loss term per image, not a scalar",
                make: vector_loss,
            },
            Entry {
                name: "zero-used",
                doc: "says each image used 0 branches",
                make: zero_used,
            },
        ],
    }
}

/// The SDK's `caps` of feature losses, wrapped by [`caps_with_undefined_bit`].
static SDK_CAPS: OnceLock<unsafe extern "C" fn(Handle) -> u32> = OnceLock::new();

/// Adds bit 64, which ABI version 2 does not define, to a loss asking for every defined bit.
unsafe extern "C" fn caps_with_undefined_bit(h: Handle) -> u32 {
    let caps = (SDK_CAPS.get().expect("set with the table"))(h);
    if caps == CAP_LOSS_ALL {
        caps | 64
    } else {
        caps
    }
}

struct Table(PluginV2);
// Only raw pointers to static data and function pointers, never mutated after construction.
unsafe impl Send for Table {}
unsafe impl Sync for Table {}
static TABLE: OnceLock<Table> = OnceLock::new();

#[no_mangle]
pub extern "C" fn lt_plugin_abi_version() -> u32 {
    abi_version(registry)
}

#[no_mangle]
pub extern "C" fn lt_plugin_v2() -> *const PluginV2 {
    let t = TABLE.get_or_init(|| {
        // SAFETY: the SDK's table lives as long as the library; a bitwise copy of its fields
        // (pointers into the same statics) is as valid.
        let mut t = unsafe { std::ptr::read(table_v2(registry)) };
        let _ = SDK_CAPS.set(t.feature_loss.caps);
        t.feature_loss.caps = caps_with_undefined_bit;
        Table(t)
    });
    &t.0
}
