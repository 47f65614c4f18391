//! Weights in and out through the real `lt-train` and PyTorch (the venv's torch, torchvision
//! and safetensors): `--init-backbone` with torchvision's and lt-train's names, `lt-train
//! export` to torchvision-named safetensors (loaded `strict=True` by torchvision and by a
//! MiSLAS-layout CIFAR ResNet), lt-train safetensors and TorchScript (the same logits), and the
//! one-line errors of bad files and heads the torchvision format cannot hold.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const NAME: &str = "weights";

/// Loads a torchvision export into `torchvision.models.ARCH(num_classes=K)` with
/// `strict=True` and reports, as JSON: whether the keys are the original's, the largest
/// difference from the original weights (tensors of equal shape, BN counters aside) and how
/// many were compared, the dtypes and shapes of the BN counters, the logits' differences from
/// the original model's (torchvision model with the export, TorchScript export), the logits'
/// scale, and the export's metadata. argv: arch, K, original, io, torchvision export,
/// TorchScript export.
const CHECK_TORCHVISION: &str = r#"
import sys, json, torch, torchvision
from safetensors.torch import load_file
from safetensors import safe_open
arch, k = sys.argv[1], int(sys.argv[2])
orig, io, exp = load_file(sys.argv[3]), load_file(sys.argv[4]), load_file(sys.argv[5])
m = getattr(torchvision.models, arch)(num_classes=k)
m.load_state_dict(exp, strict=True)
m.eval()
ts = torch.jit.load(sys.argv[6])
with torch.no_grad():
    tv_logits, ts_logits = m(io["x"]), ts(io["x"])
same = [n for n in orig if n in exp and orig[n].shape == exp[n].shape and not n.endswith("num_batches_tracked")]
with safe_open(sys.argv[5], "pt") as f:
    meta = f.metadata()
print(json.dumps({
    "same_keys": sorted(orig) == sorted(exp),
    "weights_diff": max((orig[n].double() - exp[n].double()).abs().max().item() for n in same),
    "compared": len(same),
    "counters": sorted({str(exp[n].dtype) + str(list(exp[n].shape)) for n in exp if n.endswith("num_batches_tracked")}),
    "tv_diff": (tv_logits - io["logits"]).abs().max().item(),
    "ts_diff": (ts_logits - io["logits"]).abs().max().item(),
    "scale": io["logits"].abs().max().item(),
    "meta": meta,
}))
"#;

/// A 0-epoch run of `arch` on the RGB dataset into `run`, plus `extra` flags.
fn zero_epoch_run(arch: &str, run: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "--dataset".into(),
        rgb_dataset(NAME).display().to_string(),
        "--out".into(),
        run.display().to_string(),
        "--model".into(),
        arch.into(),
    ];
    for a in [
        "--epochs=0",
        "--stage2-epochs=0",
        "--device=cpu",
        "--threads=1",
        "--set=loader_threads=1",
        "--set=stage1.batch_size=2",
    ] {
        args.push(a.into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    lt_train(&args)
}

/// `lt-train export RUN --format FORMAT --out OUT` plus `extra`, which must succeed.
fn export(run: &Path, format: &str, out: &Path, extra: &[&str]) -> PathBuf {
    let o = lt_train_cmd()
        .arg("export")
        .arg(run)
        .args(["--format", format, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&o);
    out.to_path_buf()
}

/// Asserts a clean failure: exit 1, one stderr line `lt-train: ...` holding every needle.
fn one_error_line(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("lt-train: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {err:?}");
    }
    lines[0].to_string()
}

/// torchvision ResNet-18, ResNet-50 and ResNeXt-50 32x4d in, out as torchvision safetensors and
/// TorchScript:
/// the same weights bit for bit, the original model's logits.
#[test]
fn torchvision_resnets_in_and_out() {
    for (arch, seed) in [("resnet18", 1), ("resnet50", 2), ("resnext50_32x4d", 3)] {
        let dir = scratch_dir(NAME, arch);
        let m = torchvision_model(&dir, arch, 3, seed);
        let run = dir.join("run");
        let init = m.weights.display().to_string();
        let err = assert_ok(&zero_epoch_run(arch, &run, &["--init-backbone", &init]));
        assert!(
            !err.contains("init_backbone"),
            "head fits: no notice: {err}"
        );
        let tv = export(&run, "torchvision", &dir.join("tv.safetensors"), &[]);
        let ts = export(&run, "torchscript", &dir.join("model.pt"), &[]);
        let k = m.num_classes.to_string();
        let r = python_json(
            CHECK_TORCHVISION,
            &[Path::new(arch), Path::new(&k), &m.weights, &m.io, &tv, &ts],
        );
        assert_eq!(r["same_keys"], true, "{r}");
        assert_eq!(r["weights_diff"], 0.0, "{r}");
        assert_eq!(r["counters"], serde_json::json!(["torch.int64[]"]), "{r}");
        let tol = 1e-4 * r["scale"].as_f64().unwrap().max(1.0);
        for d in ["tv_diff", "ts_diff"] {
            assert!(r[d].as_f64().unwrap() <= tol, "{d} > {tol}: {r}");
        }
        let meta = &r["meta"];
        assert_eq!(meta["arch"], arch);
        assert_eq!(meta["lt_naming"], "torchvision");
        assert_eq!(meta["lt_format_version"], "1");
        assert_eq!(meta["input_shape"], "[1,3,224,224]");
        assert!(meta["config"]
            .as_str()
            .unwrap()
            .contains(&format!("init_backbone = \"{init}\"")));
        let metrics: Value = serde_json::from_str(meta["metrics"].as_str().unwrap()).unwrap();
        assert!(metrics["top1"].is_number(), "{metrics}");
    }
}

/// An lt-train-named export loads back as `--init-backbone`; an existing --out is refused
/// without --force; a head of another class count is left with one notice line.
#[test]
fn own_names_round_trip_and_foreign_heads() {
    let dir = scratch_dir(NAME, "own");
    let m = torchvision_model(&dir, "resnet18", 5, 3);
    let first = dir.join("first");
    let init = m.weights.display().to_string();
    let err = assert_ok(&zero_epoch_run(
        "resnet18",
        &first,
        &["--init-backbone", &init],
    ));
    let notice = format!(
        "init_backbone {init}: has a head of shape [5, 512], the model's is [3, 512]; \
         the head keeps its initialisation"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("init_backbone"))
            .collect::<Vec<_>>(),
        [notice]
    );
    let own = export(&first, "safetensors", &dir.join("own.safetensors"), &[]);
    let o = lt_train_cmd()
        .args([
            "export",
            first.to_str().unwrap(),
            "--format",
            "safetensors",
            "--out",
        ])
        .arg(&own)
        .output()
        .unwrap();
    one_error_line(&o, &["own.safetensors: exists; give --force to replace it"]);
    export(&first, "safetensors", &own, &["--force"]);
    // lt-train's names in: the head fits this time, so both runs have the same model.
    let second = dir.join("second");
    let err = assert_ok(&zero_epoch_run(
        "resnet18",
        &second,
        &["--init-backbone", own.to_str().unwrap()],
    ));
    assert!(!err.contains("init_backbone"), "{err}");
    let a = export(&first, "torchvision", &dir.join("a.safetensors"), &[]);
    let b = export(&second, "torchvision", &dir.join("b.safetensors"), &[]);
    let r = python_json(
        r#"
import sys, json
from safetensors.torch import load_file
o, a, b = (load_file(p) for p in sys.argv[1:4])
bb = [n for n in o if not n.startswith("fc.") and not n.endswith("num_batches_tracked")]
print(json.dumps({
    "own_keys": sorted({n.split(".")[0] for n in load_file(sys.argv[4])}),
    "backbone_diff": max((o[n] - a[n]).abs().max().item() for n in bb),
    "runs_diff": max((a[n].double() - b[n].double()).abs().max().item() for n in a),
    "fc": list(a["fc.weight"].shape),
}))
"#,
        &[&m.weights, &a, &b, &own],
    );
    assert_eq!(
        r["own_keys"],
        serde_json::json!(["backbone", "head"]),
        "{r}"
    );
    assert_eq!(r["backbone_diff"], 0.0, "{r}");
    assert_eq!(r["runs_diff"], 0.0, "{r}");
    assert_eq!(r["fc"], serde_json::json!([3, 512]), "{r}");
}

/// Loads a CIFAR ResNet-32 export into the MiSLAS-layout Python model (`strict=True`) and
/// reports the largest difference between its logits and the TorchScript export's on random
/// inputs, their scale, and the metadata. argv: torchvision export, TorchScript export, K,
/// channels, size.
const CHECK_CIFAR: &str = r#"
import sys, json
from safetensors.torch import load_file
from safetensors import safe_open
k, c, s = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
m = ResNetCifar(32, k, c)
m.load_state_dict(load_file(sys.argv[1]), strict=True)
m.eval()
ts = torch.jit.load(sys.argv[2])
torch.manual_seed(0)
x = torch.randn(8, c, s, s)
with torch.no_grad():
    a, b = m(x), ts(x)
with safe_open(sys.argv[1], "pt") as f:
    meta = f.metadata()
print(json.dumps({"diff": (a - b).abs().max().item(), "scale": b.abs().max().item(), "meta": meta}))
"#;

/// A trained ResNet-32 on Fashion-MNIST-LT, stage 2 a tau-normalised head with post-hoc logit
/// adjustment (both folded into `linear`): the MiSLAS-layout model with the torchvision-format
/// export computes the TorchScript export's logits.
#[test]
fn trained_cifar_resnet_loads_into_mislas_layout() {
    let dir = scratch_dir(NAME, "cifar");
    let run = dir.join("run");
    let mut args = tiny(dataset(NAME), &run, 1);
    args.retain(|a| a != "--stage2-epochs=0");
    for a in [
        "--plugin=decoupling",
        "--plugin=rebalance",
        "--set=model=\"resnet32\"",
        "--set=stage1.steps_per_epoch=3",
        "--set=stage2.epochs=0",
        "--set=stage2.head=\"tau-norm\"",
        "--set=stage2.head_config={tau=1.0,bias=false}",
        "--set=stage2.loss=\"logit-adjustment\"",
        "--set=stage2.loss_config={tau=1.0,posthoc=true}",
    ] {
        args.push(a.into());
    }
    assert_ok(&lt_train(&args));
    let tv = export(&run, "torchvision", &dir.join("tv.safetensors"), &[]);
    let ts = export(&run, "torchscript", &dir.join("model.pt"), &[]);
    let script = format!("{CIFAR_RESNET_PY}\n{CHECK_CIFAR}");
    let r = python_json(
        &script,
        &[&tv, &ts, Path::new("10"), Path::new("1"), Path::new("28")],
    );
    let tol = 1e-4 * r["scale"].as_f64().unwrap().max(1.0);
    assert!(r["diff"].as_f64().unwrap() <= tol, "{r}");
    assert_eq!(r["meta"]["arch"], "resnet32");
    assert_eq!(r["meta"]["lt_naming"], "cifar");
    assert_eq!(r["meta"]["stage"], "2");
    assert_eq!(r["meta"]["head"], "tau-norm");
}

/// Writes bad variants of a state dict (argv 1) into argv 2: a missing key, an unexpected
/// key, a wrong shape, a truncated file.
const BREAK_FILE: &str = r#"
import sys, torch
from safetensors.torch import load_file, save_file
sd, out = load_file(sys.argv[1]), sys.argv[2]
missing = dict(sd); del missing["layer2.0.bn1.running_var"]
save_file(missing, out + "/missing.safetensors")
save_file({**sd, "layer5.0.conv1.weight": torch.zeros(3)}, out + "/unexpected.safetensors")
save_file({**sd, "layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)}, out + "/shape.safetensors")
open(out + "/corrupt.safetensors", "wb").write(open(sys.argv[1], "rb").read()[:5000])
"#;

/// Each bad init file is one error line naming it (and the key, both shapes), before the run
/// directory is made.
#[test]
fn bad_init_files_are_one_line_errors() {
    let dir = scratch_dir(NAME, "bad");
    let m = torchvision_model(&dir, "resnet18", 3, 4);
    python_script(BREAK_FILE, &[&m.weights, &dir]);
    let cases: [(&str, &[&str]); 5] = [
        ("missing", &["missing key 'layer2.0.bn1.running_var' (resnet18 has it)"]),
        ("unexpected", &["unexpected key 'layer5.0.conv1.weight' (resnet18 has no such variable)"]),
        ("shape", &["key 'layer1.0.conv1.weight' has shape [64, 64, 1, 1], resnet18 expects [64, 64, 3, 3]"]),
        ("corrupt", &["not a readable safetensors file"]),
        ("absent", &["No such file"]),
    ];
    for (case, needles) in cases {
        let file = dir.join(format!("{case}.safetensors"));
        let run = dir.join(format!("run-{case}"));
        let o = zero_epoch_run(
            "resnet18",
            &run,
            &["--init-backbone", file.to_str().unwrap()],
        );
        let prefix = format!("lt-train: init_backbone {}: ", file.display());
        let line = one_error_line(&o, needles);
        assert!(line.starts_with(&prefix), "{line}");
        assert!(!run.exists(), "{case}: {} written", run.display());
    }
}

/// A cosine classifier is no affine map of the features: the torchvision export is refused in
/// one line pointing at TorchScript, which works.
#[test]
fn cosine_head_exports_only_as_torchscript() {
    let dir = scratch_dir(NAME, "cosine");
    let run = dir.join("run");
    let extra = ["--plugin=decoupling", "--set=stage1.head=\"cosine\""];
    assert_ok(&zero_epoch_run("resnet18", &run, &extra));
    let out = dir.join("tv.safetensors");
    let o = lt_train_cmd()
        .args([
            "export",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    one_error_line(
        &o,
        &[
            "stage1-final.safetensors: the logits of head 'cosine' are not an affine function",
            "use --format torchscript",
        ],
    );
    assert!(!out.exists());
    let ts = export(&run, "torchscript", &dir.join("model.pt"), &[]);
    let r = python_json(
        "import sys, json, torch\nx = torch.randn(2, 3, 64, 64)\nwith torch.no_grad(): y = torch.jit.load(sys.argv[1])(x)\nprint(json.dumps({'shape': list(y.shape), 'finite': bool(torch.isfinite(y).all())}))",
        &[&ts],
    );
    assert_eq!(r, serde_json::json!({"shape": [2, 3], "finite": true}));
}

/// A directory without a final checkpoint, and a format that does not exist: one line each.
#[test]
fn export_without_a_checkpoint_or_with_a_bad_format_is_one_line() {
    let dir = scratch_dir(NAME, "no-run");
    let o = lt_train(&["export", dir.to_str().unwrap()]);
    let want = dir.join("checkpoints/stage1-final.safetensors");
    one_error_line(
        &o,
        &[&format!(
            "{}: the run has no final checkpoint; give --checkpoint FILE",
            want.display()
        )],
    );
    let o = lt_train(&["export", dir.to_str().unwrap(), "--format", "onnx"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("expected \"torchvision\", \"safetensors\" or \"torchscript\", got \"onnx\""),
        "{err}"
    );
    assert!(!dir.join("export").exists());
}
