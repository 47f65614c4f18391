//! The methods of plugin ABI version 2 end to end through the real binary, on a tiny
//! Fashion-MNIST-LT run (ResNet-10, two batches of 8 per epoch) with SADE's shifted test splits:
//! BBN (two branches, a second sampler's batch), RIDE and SADE (three experts; SADE adapts at
//! test time), LADE (a version-2 plugin's plain loss) and KCL (two views, a loss with its own
//! projection head). Each trains, checkpoints its own tensors, and `lt-train eval` of its final
//! checkpoint gives the run's metrics exactly, per split too. Stages whose loss, model and
//! samplers do not fit are one-line errors before any training.
mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

const NAME: &str = "methods";

/// Fashion-MNIST-LT with its forward and backward test splits at imbalance 2 and 50.
fn data() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| build_dataset(NAME, &["--test-splits", "2,50"]))
}

/// A one-epoch run of `method` with its shipped config; returns its directory and output.
fn train(method: &str, extra: &[&str]) -> (PathBuf, Output) {
    let run = scratch(NAME).join(method);
    let cfg = root().join(format!("configs/{method}.toml"));
    let mut args = tiny(data(), &run, 1);
    for a in [
        "--plugin",
        method,
        "--config",
        s(&cfg),
        "--set=stage1.warmup_epochs=0",
    ] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    (run.clone(), lt_train(&args))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Tensor names of a run's final stage-1 checkpoint: the model's and the plugins' own.
fn checkpoint_names(run: &Path) -> (Vec<String>, Vec<String>) {
    let ck = lt_core::checkpoint::load(&run.join("checkpoints/stage1-final.safetensors")).unwrap();
    let names = |v: &[(String, tch::Tensor)]| v.iter().map(|(n, _)| n.clone()).collect();
    (names(&ck.model), names(&ck.extra))
}

/// `lt-train eval` of the final stage-1 checkpoint on `split` gives exactly `want` (a metrics
/// block).
fn eval_matches(run: &Path, split: &str, want: &Value) {
    eval_stage_matches(run, 1, split, want)
}

fn eval_stage_matches(run: &Path, stage: u32, split: &str, want: &Value) {
    let json = scratch(NAME).join(format!(
        "{}-{split}.json",
        run.file_name().unwrap().to_str().unwrap()
    ));
    let ck = run.join(format!("checkpoints/stage{stage}-final.safetensors"));
    assert_ok(&lt_train(&[
        "eval",
        "--checkpoint",
        s(&ck),
        "--split",
        split,
        "--json",
        s(&json),
    ]));
    let got = read_json(&json);
    for key in [
        "top1",
        "top5",
        "ece",
        "nll",
        "many",
        "medium",
        "few",
        "branches_per_image",
    ] {
        assert_eq!(got[key].as_f64(), want[key].as_f64(), "{split}: {key}");
    }
    assert_eq!(got["per_class"], want["per_class"], "{split}");
}

#[test]
fn bbn_trains_two_branches_on_two_samplers() {
    let (run, out) = train("bbn", &[]);
    assert_ok(&out);
    let (model, extra) = checkpoint_names(&run);
    assert!(
        model
            .iter()
            .any(|n| n.starts_with("backbone.branches.1.layer4.")),
        "{model:?}"
    );
    assert!(!model.iter().any(|n| n.starts_with("backbone.branches.2.")));
    let mut extra = extra;
    extra.sort();
    assert_eq!(extra, ["model_plugin.fc.bias", "model_plugin.fc.weight"]);
    let m = read_json(&run.join("metrics.json"));
    eval_matches(&run, "test", &m);
}

#[test]
fn ride_trains_three_experts_and_evaluates_their_mean() {
    let (run, out) = train("ride", &[]);
    assert_ok(&out);
    let (model, extra) = checkpoint_names(&run);
    assert!(
        model
            .iter()
            .any(|n| n.starts_with("backbone.branches.2.layer4.")),
        "{model:?}"
    );
    assert_eq!(extra.len(), 3, "{extra:?}");
    eval_matches(&run, "test", &read_json(&run.join("metrics.json")));
    // Three experts do not fit torchvision's one backbone and fc; the error says what does.
    let out = lt_train(&["export", s(&run), "--format", "torchvision"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("model plugin 'ride' has several branches") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!run.join("export").exists());
}

/// RIDE's router, as the official second run: a plain RIDE stage 1, then stage 2 from its
/// checkpoint with the router added (its tensors start fresh, with a notice), the experts and
/// the backbone frozen, only the router's own loss trained (`loss = "none"`), and evaluation
/// routed; `lt-train eval` reproduces it.
#[test]
fn ride_router_trains_on_frozen_experts_and_routes() {
    let s1 = scratch(NAME).join("ride-router-s1");
    assert_ok(&lt_train(&tiny_with(
        data(),
        &s1,
        1,
        &[
            "--plugin",
            "ride",
            "--config",
            s(&root().join("configs/ride.toml")),
            "--set=stage1.warmup_epochs=0",
        ],
    )));
    let ck1 = s1.join("checkpoints/stage1-final.safetensors");
    let run = scratch(NAME).join("ride-router");
    let init = format!("--set=init_checkpoint=\"{}\"", ck1.display());
    let cfg = root().join("configs/ride-router.toml");
    let args = [
        "--dataset",
        s(data()),
        "--out",
        s(&run),
        "--threads=1",
        "--device=cpu",
        "--set=loader_threads=1",
        "--set=model=resnet10",
        "--plugin",
        "ride",
        "--config",
        s(&cfg),
        "--set=model_plugin_config.top_choices=3",
        "--set=stage2.epochs=1",
        "--set=stage2.steps_per_epoch=2",
        "--set=stage2.batch_size=8",
        &init,
    ];
    let err = assert_ok(&lt_train(&args));
    assert!(
        err.contains("init_checkpoint: 7 tensor(s) of model 'ride' not in the checkpoint, initialised fresh: model_plugin.router.hidden0.weight,"),
        "{err}"
    );
    let load = |p: &Path| lt_core::checkpoint::load(p).unwrap();
    let (a, b) = (
        load(&ck1),
        load(&run.join("checkpoints/stage2-final.safetensors")),
    );
    let get = |v: &[(String, tch::Tensor)], name: &str| {
        v.iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}"))
            .1
            .shallow_clone()
    };
    // Frozen: the experts' classifiers and the backbone (BN statistics too) did not move.
    for name in ["model_plugin.expert0.weight", "model_plugin.expert2.weight"] {
        assert!(get(&a.extra, name).equal(&get(&b.extra, name)), "{name}");
    }
    for name in [
        "backbone.branches.1.layer4.0.bn1.running_mean",
        "backbone.conv1.weight",
    ] {
        assert!(get(&a.model, name).equal(&get(&b.model, name)), "{name}");
    }
    assert_eq!(
        get(&b.extra, "model_plugin.router.routing").double_value(&[0]),
        1.0
    );
    let m = read_json(&run.join("metrics.json"));
    let used = m["branches_per_image"]
        .as_f64()
        .expect("a routed evaluation");
    assert!((1.0..=3.0).contains(&used), "{used}");
    assert!(err.contains("branches/image"), "{err}");
    eval_stage_matches(&run, 2, "test", &m);
}

#[test]
fn sade_adapts_to_each_split_and_eval_reproduces_every_block() {
    let splits = "--set=eval_splits=[\"test-fwd-50\", \"test-bwd-50\"]";
    let (run, out) = train(
        "sade",
        &[splits, "--set=model_plugin_config.test_time_epochs=1"],
    );
    let err = assert_ok(&out);
    assert!(
        err.contains("eval test-fwd-50: top1 ") && err.contains("eval test-bwd-50: top1 "),
        "{err}"
    );
    let m = read_json(&run.join("metrics.json"));
    eval_matches(&run, "test", &m);
    for split in ["test-fwd-50", "test-bwd-50"] {
        assert!(m["splits"][split]["top1"].as_f64().is_some(), "{m}");
        eval_matches(&run, split, &m["splits"][split]);
    }
    // Adaptation changes the aggregation weights, so --no-adapt is another evaluation.
    let ck = run.join("checkpoints/stage1-final.safetensors");
    let json = scratch(NAME).join("sade-no-adapt.json");
    assert_ok(&lt_train(&[
        "eval",
        "--checkpoint",
        s(&ck),
        "--no-adapt",
        "--json",
        s(&json),
    ]));
    assert_ne!(read_json(&json)["nll"], m["nll"]);
}

#[test]
fn lade_and_kcl_train() {
    let (run, out) = train("lade", &[]);
    assert_ok(&out);
    assert!(read_json(&run.join("metrics.json"))["top1"]
        .as_f64()
        .is_some());
    let (run, out) = train("kcl", &[]);
    assert_ok(&out);
    let (_, extra) = checkpoint_names(&run);
    assert!(
        !extra.is_empty() && extra.iter().all(|n| n.starts_with("loss_plugin.")),
        "{extra:?}"
    );
}

#[test]
fn components_that_do_not_fit_are_one_line_errors() {
    let cfg = |m: &str| {
        root()
            .join(format!("configs/{m}.toml"))
            .display()
            .to_string()
    };
    let cases: [(&str, &[&str], &str); 4] = [
        ("bbn", &["--set=model_plugin=\"\""], "stage 1: sampler2 feeds branch 1 of a two-branch model plugin; this run has no model plugin"),
        ("ride", &["--set=stage1.sampler2=\"reversed\""], "stage 1: sampler2 feeds branch 1 of a two-branch model plugin; this run has 3 branch(es)"),
        ("kcl", &["--set=stage1.mixup_alpha=1.0"], "stage 1: mixup with a second batch or view: set mixup_alpha = 0"),
        ("ride", &["--set=model_plugin_config.experts=0"], ""),
    ];
    for (method, sets, want) in cases {
        let mut args = vec!["--plugin", method, "--config"];
        let c = cfg(method);
        args.push(&c);
        args.extend_from_slice(sets);
        let out = check(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{method} {sets:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        if want.is_empty() {
            assert!(
                err.starts_with("lt-train: model_plugin 'ride': ") && err.contains("experts"),
                "{err}"
            );
        } else {
            assert_eq!(err.trim_end(), format!("lt-train: {want}"));
        }
    }
}

#[test]
fn a_missing_eval_split_stops_the_run_before_training() {
    let (run, out) = train("lade", &["--set=eval_splits=[\"test-fwd-7\"]"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("test-fwd-7"), "{err}");
    assert!(!run.join("metrics.jsonl").exists());
}
