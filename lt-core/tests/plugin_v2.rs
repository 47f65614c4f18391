//! Version 2 of the plugin ABI: negotiation (a v1 plugin and a v2 plugin load side by side) and
//! every rule a v2 component can break, each a one-line error naming the plugin file, the
//! plugin, the component and the problem.

mod plugin_common;

use lt_core::config::Builder;
use lt_core::plugin::{ComponentKind, DatasetInfo, Plugin, PluginError, StepCtx};
use plugin_common::*;
use serde_json::Value;
use tch::{Device, Kind, Tensor};

fn info() -> DatasetInfo {
    DatasetInfo::for_test(vec![50, 10, 2]).with_feature_dim(4)
}

fn bad() -> Plugin {
    Plugin::open(&bad_v2_plugin()).expect("the fixture loads: its table is valid")
}

/// A one-line contract error from `bad-v2`'s component `name`, containing `what`.
fn assert_contract(e: PluginError, name: &str, what: &str) {
    let msg = e.to_string();
    assert!(matches!(e, PluginError::Contract { .. }), "{e:?}");
    assert!(!msg.contains('\n'), "{msg}");
    assert!(
        msg.starts_with(&bad_v2_plugin().display().to_string())
            && msg.contains("plugin `bad-v2`")
            && msg.contains(&format!("`{name}`"))
            && msg.contains(what),
        "{msg}"
    );
}

#[test]
fn versions_are_negotiated_per_plugin() {
    let v1 = Plugin::open(&example_plugin()).unwrap();
    let v2 = bad();
    assert_eq!((v1.info().abi_version, v2.info().abi_version), (1, 2));
    assert_eq!(
        v2.info().names(ComponentKind::Model),
        [
            "zero-branches",
            "wide-logits",
            "few-experts",
            "vector-loss",
            "zero-used"
        ]
    );
    assert_eq!(
        v2.info().names(ComponentKind::FeatureLoss),
        ["bad-caps", "needs-experts"]
    );
    let line = v2.info().to_string();
    assert!(
        line.contains("feature-loss:bad-caps") && line.contains("model:zero-branches"),
        "{line}"
    );
}

#[test]
fn a_model_with_no_branches_is_refused() {
    let e = bad()
        .model("zero-branches", &Value::Null, &info())
        .err()
        .unwrap();
    assert_contract(e, "zero-branches", "declares 0 branches (experts)");
}

#[test]
fn undefined_capability_bits_are_refused() {
    let e = bad()
        .feature_loss("bad-caps", &Value::Null, &info())
        .err()
        .unwrap();
    assert_contract(
        e,
        "bad-caps",
        "declares capability bits 0x5f, but ABI version 2 defines only 0x1f",
    );
    // The same type with defined bits loads.
    let ok = bad()
        .feature_loss("needs-experts", &Value::Null, &info())
        .unwrap();
    assert!(ok.needs().experts && !ok.needs().features);
}

#[test]
fn model_outputs_of_the_wrong_shape_or_count_are_refused() {
    let feats: Vec<Tensor> = (0..2)
        .map(|_| Tensor::zeros([4, 4], (Kind::Float, Device::Cpu)))
        .collect();
    let mut m = bad().model("wide-logits", &Value::Null, &info()).unwrap();
    assert_eq!(m.branches(), 2);
    let y = Tensor::zeros([4], (Kind::Int64, Device::Cpu));
    let e = m
        .forward(&feats, Some(&y), &StepCtx::default())
        .err()
        .unwrap();
    assert_contract(
        e,
        "wide-logits",
        "returned logits of shape [4, 4], expected [4, 3]",
    );
    let mut m = bad().model("few-experts", &Value::Null, &info()).unwrap();
    let e = m.forward(&feats, None, &StepCtx::default()).err().unwrap();
    assert_contract(e, "few-experts", "returned 1 branch logits for 2 branches");
    let e = m
        .forward(&feats[..1], None, &StepCtx::default())
        .err()
        .unwrap();
    assert_contract(e, "few-experts", "1 feature tensors for 2 branches");
}

/// A configuration loading `bad-v2` with these `--set` lines.
fn config(sets: &[&str]) -> Builder {
    let mut b = Builder::default();
    b.set("dataset=\"unused\"").unwrap();
    b.set(&format!("plugins=[\"{}\"]", bad_v2_plugin().display()))
        .unwrap();
    for line in sets {
        b.set(line).unwrap();
    }
    b
}

/// `lt-train --check`'s error for the configuration.
fn check_error(b: &Builder) -> String {
    lt_core::train::check(&b.build().unwrap())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_loss_asking_for_experts_needs_a_model_plugin() {
    let mut b = config(&["stage1.loss=\"needs-experts\""]);
    let e = check_error(&b);
    assert_eq!(
        e,
        "stage 1: loss 'needs-experts' needs each expert's logits: set model_plugin"
    );
    // A model with 0 branches fails the check as it would fail a run.
    b.set("model_plugin=\"zero-branches\"").unwrap();
    let e = check_error(&b);
    assert!(
        e.starts_with("model_plugin 'zero-branches': ") && e.contains("declares 0 branches"),
        "{e}"
    );
}

#[test]
fn a_training_loss_term_must_be_a_scalar() {
    let feats: Vec<Tensor> = (0..2)
        .map(|_| Tensor::zeros([4, 4], (Kind::Float, Device::Cpu)))
        .collect();
    let mut m = bad().model("vector-loss", &Value::Null, &info()).unwrap();
    assert!(m.trains_on_labels());
    // Evaluation does not ask for the loss term.
    assert!(m.forward(&feats, None, &StepCtx::default()).is_ok());
    let y = Tensor::zeros([4], (Kind::Int64, Device::Cpu));
    let e = m
        .forward(&feats, Some(&y), &StepCtx::default())
        .err()
        .unwrap();
    assert_contract(
        e,
        "vector-loss",
        "forward_train returned a loss of shape [4], expected a scalar",
    );
}

#[test]
fn branch_counts_must_lie_between_one_and_the_branches() {
    let feats: Vec<Tensor> = (0..2)
        .map(|_| Tensor::zeros([4, 4], (Kind::Float, Device::Cpu)))
        .collect();
    let mut m = bad().model("zero-used", &Value::Null, &info()).unwrap();
    let e = m.forward(&feats, None, &StepCtx::default()).err().unwrap();
    assert_contract(
        e,
        "zero-used",
        "forward_eval returned branch counts of shape [4] (Int64), expected [4] int64 in 1..=2",
    );
    // A model that routes nothing reports no counts.
    let mut m = bad().model("vector-loss", &Value::Null, &info()).unwrap();
    assert!(m
        .forward(&feats, None, &StepCtx::default())
        .unwrap()
        .used
        .is_none());
}

/// A version-2 table as first released (before `model_ext`): it loads and its models train
/// and evaluate without the new calls; a model asking for labels is refused, since the table
/// cannot carry them.
#[test]
fn a_table_without_the_later_model_calls_still_loads() {
    let p = Plugin::open(&v2_base_plugin()).expect("a base-size version-2 table loads");
    assert_eq!(p.info().abi_version, 2);
    let mut m = p.model("plain", &Value::Null, &info()).unwrap();
    assert!(!m.trains_on_labels());
    // The fixture's begin_stage fails if called: the host must skip it on this table.
    m.begin_stage(1).unwrap();
    let f = [Tensor::ones([2, 4], (Kind::Float, Device::Cpu))];
    let y = Tensor::zeros([2], (Kind::Int64, Device::Cpu));
    let out = m.forward(&f, Some(&y), &StepCtx::default()).unwrap();
    assert!(out.loss.is_none() && out.logits.size() == [2, 3]);
    let e = p.model("labels", &Value::Null, &info()).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, PluginError::Contract { .. }), "{e:?}");
    assert!(
        msg.contains("`labels`")
            && msg.contains(
                "asks for labels in training, but its table (an older SDK's) has no forward_train"
            )
            && !msg.contains('\n'),
        "{msg}"
    );
}

#[test]
fn loss_none_needs_a_model_that_trains_on_labels() {
    let mut b = config(&["stage1.loss=\"none\""]);
    let e = check_error(&b);
    assert_eq!(
        e,
        "stage 1: loss = \"none\" trains only a model plugin's own loss term; this run's model has none"
    );
    b.set("model_plugin=\"vector-loss\"").unwrap();
    lt_core::train::check(&b.build().unwrap()).expect("a model that trains on labels");
    b.set("stage1.mixup_alpha=1.0").unwrap();
    let e = check_error(&b);
    assert_eq!(
        e,
        "stage 1: model 'vector-loss' trains on each image's label, which mixup blends: set mixup_alpha = 0"
    );
}
