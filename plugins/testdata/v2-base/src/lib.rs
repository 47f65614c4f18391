//! Test fixture: a version-2 plugin built before `PluginV2::model_ext` existed, for
//! lt-core/tests/plugin_v2.rs. Its table is the SDK's, copied once with `size` set to
//! `PLUGIN_V2_BASE_SIZE`, which is what an older SDK's table declares. The host must load it,
//! train its model `plain` without the new calls, and refuse its model `labels`, which asks
//! for them (`CAP_MODEL_TRAIN_LABELS`) though the table does not carry them.

use lt_plugin::abi::{PluginV2, StepCtx, PLUGIN_V2_BASE_SIZE};
use lt_plugin::runtime::{abi_version, table_v2, Entry, Registry};
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{Config, DatasetInfo, MakeFn, Model, ModelOutput, NamedTensor, Result};
use std::sync::OnceLock;

/// One branch; logits are the first K features (the fixture's datasets have D >= K).
struct Plain {
    k: i64,
    labels: bool,
}

impl Model for Plain {
    fn branches(&self) -> usize {
        1
    }
    fn forward(&mut self, f: &[Tensor], _: bool, _: &StepCtx) -> Result<ModelOutput> {
        let z = f[0].narrow(1, 0, self.k).to_kind(Kind::Float);
        Ok(ModelOutput::new(z.shallow_clone(), vec![z]))
    }
    fn trains_on_labels(&self) -> bool {
        self.labels
    }
    fn begin_stage(&mut self, _: u32) -> Result<()> {
        // An older SDK has no begin_stage: the host must not call it on this table.
        Err(lt_plugin::Error::State(
            "begin_stage called through a table without it".into(),
        ))
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        Vec::new()
    }
}

fn plain(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    Ok(Box::new(Plain {
        k: d.num_classes as i64,
        labels: false,
    }))
}
fn labels(_: &Config, d: &DatasetInfo) -> Result<Box<dyn Model>> {
    Ok(Box::new(Plain {
        k: d.num_classes as i64,
        labels: true,
    }))
}

fn registry() -> Registry {
    Registry {
        name: "v2-base",
        version: "0.0.1",
        description: "test fixture",
        recipe: None,
        losses: Vec::new(),
        heads: Vec::new(),
        samplers: Vec::new(),
        feature_losses: Vec::new(),
        models: vec![
            Entry {
                name: "plain",
                doc: "one branch, logits = the first K features",
                make: plain as MakeFn<dyn Model>,
            },
            Entry {
                name: "labels",
                doc: "asks for labels in training",
                make: labels,
            },
        ],
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
        t.size = PLUGIN_V2_BASE_SIZE;
        Table(t)
    });
    &t.0
}
