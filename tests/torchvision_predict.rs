//! A torchvision model, imported with `--init-backbone`, classifies image files with
//! `lt-train predict` exactly as torchvision does on the same files: the same logits within
//! 1e-4 for ResNet-18 and ResNet-50 with random weights and batch-norm statistics.
//!
//! PyTorch side, on each PNG: `Resize(256)`, `CenterCrop(224)`, `ToTensor()`,
//! `Normalize(ImageNet mean, std)`, then `model(x)`. The images are 256x256, so the resize is
//! the identity in both tools and the comparison is of the weights and the forward pass, not of
//! two resamplers (lt-data's antialiased bilinear equals PIL's within one grey level, which
//! moves logits by about 1e-3 on upscaled images).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const NAME: &str = "torchvision_predict";

/// torchvision `ARCH(num_classes=3)` loaded from argv 2 (safetensors, `strict=True`), in eval
/// mode, on each image named in the CSV (argv 3) through torchvision's eval transform; prints
/// the largest difference from the CSV's logits, the largest logit and the number of images;
/// with a TorchScript file in argv 4, also the largest difference of its logits from the CSV's.
const COMPARE: &str = r#"
import sys, csv, json, torch, torchvision
from torchvision import transforms as T
from safetensors.torch import load_file
from PIL import Image
m = getattr(torchvision.models, sys.argv[1])(num_classes=3)
m.load_state_dict(load_file(sys.argv[2]), strict=True)
m.eval()
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
rows = list(csv.DictReader(open(sys.argv[3])))
ts = torch.jit.load(sys.argv[4]) if len(sys.argv) > 4 else None
diff, ts_diff, scale = 0.0, 0.0, 0.0
for r in rows:
    x = tf(Image.open(r["path"]).convert("RGB"))[None]
    ours = torch.tensor([float(r["logit_" + c]) for c in "abc"], dtype=torch.float64)
    with torch.no_grad():
        ref = m(x)[0].double()
        if ts is not None:
            ts_diff = max(ts_diff, (ts(x)[0].double() - ours).abs().max().item())
    diff = max(diff, (ref - ours).abs().max().item())
    scale = max(scale, ref.abs().max().item())
print(json.dumps({"diff": diff, "ts_diff": ts_diff, "scale": scale, "images": len(rows)}))
"#;

/// Scales the fc layer of torchvision `ARCH(num_classes=3)` in argv 2 so that its logits of a
/// random image are at most 5 in magnitude, as a trained network's (random weights with random
/// BN statistics give ResNet-50 logits in the hundreds, where float32 rounding alone is 1e-4),
/// and saves it as argv 3.
const TAME: &str = r#"
import sys, torch, torchvision
from safetensors.torch import load_file, save_file
m = getattr(torchvision.models, sys.argv[1])(num_classes=3)
m.load_state_dict(load_file(sys.argv[2]), strict=True)
m.eval()
torch.manual_seed(0)
with torch.no_grad():
    f = 5.0 / m(torch.randn(2, 3, 224, 224)).abs().max().item()
    m.fc.weight.mul_(f); m.fc.bias.mul_(f)
save_file({n: t.contiguous() for n, t in m.state_dict().items()}, sys.argv[3])
"#;

/// A tree of 3 classes of random 256x256 RGB PNGs (2 training, 2 test images each), and the
/// dataset the real `lt-data` builds from it (ImageNet recipe).
fn dataset_256(dir: &Path) -> (PathBuf, PathBuf) {
    let (tree, out) = (dir.join("tree"), dir.join("data"));
    rgb_folder_dataset(&tree, &out, 256, (2, 2), 0x9e37_79b9);
    (tree, out)
}

/// A run of `arch` on `data` into `run` from the torchvision weights `init`, `epochs` epochs of
/// batches of 2 at learning rate 0.01 (0: the imported model as it is).
fn train(arch: &str, data: &Path, run: &Path, init: &Path, epochs: usize) {
    let epochs = format!("--epochs={epochs}");
    assert_ok(&lt_train(&[
        "--dataset",
        s(data),
        "--out",
        s(run),
        "--model",
        arch,
        "--init-backbone",
        s(init),
        &epochs,
        "--stage2-epochs=0",
        "--device=cpu",
        "--threads=1",
        "--set=loader_threads=1",
        "--set=stage1.batch_size=2",
        "--set=stage1.lr=0.01",
        "-q",
    ]));
}

/// `lt-train predict --logits` of the run's final checkpoint on the PNGs in `images`, as a CSV
/// file in `dir`.
fn predict(run: &Path, images: &Path, dir: &Path) -> PathBuf {
    let csv = dir.join("predictions.csv");
    let ck = run.join("checkpoints/stage1-final.safetensors");
    assert_ok(&lt_train(&[
        "predict",
        "--checkpoint",
        s(&ck),
        "--logits",
        "--top-k=1",
        "--out",
        s(&csv),
        s(images),
    ]));
    csv
}

/// torchvision's `arch` with `weights` and `predict`'s CSV agree on every image within 1e-4
/// (and a TorchScript file, when given, too); returns the comparison.
fn assert_same_logits(arch: &str, weights: &Path, csv: &Path, ts: Option<&Path>) -> Value {
    let mut args = vec![Path::new(arch), weights, csv];
    args.extend(ts);
    let r = python_json(COMPARE, &args);
    eprintln!("{arch}: {r}");
    assert_eq!(r["images"], 6, "{r}");
    assert!(
        r["scale"].as_f64().unwrap() > 0.1,
        "logits too small to compare: {r}"
    );
    for key in ["diff", "ts_diff"] {
        let d = r[key].as_f64().unwrap();
        assert!(d <= 1e-4, "{arch}: {key} {d} > 1e-4: {r}");
    }
    r
}

/// torchvision's `arch(num_classes=3)` with random weights from `seed`, its logits tamed.
fn tamed_model(dir: &Path, arch: &str, seed: u64) -> PathBuf {
    let m = torchvision_model(dir, arch, 3, seed);
    let weights = dir.join(format!("{arch}-tamed.safetensors"));
    python_script(TAME, &[Path::new(arch), &m.weights, &weights]);
    weights
}

#[test]
fn predict_gives_torchvisions_logits_for_imported_resnets() {
    for (arch, seed) in [("resnet18", 11), ("resnet50", 12)] {
        let dir = scratch_dir(NAME, arch);
        let (tree, data) = dataset_256(&dir);
        let weights = tamed_model(&dir, arch, seed);
        let run = dir.join("run");
        train(arch, &data, &run, &weights, 0);
        let csv = predict(&run, &tree.join("test"), &dir);
        assert_same_logits(arch, &weights, &csv, None);
    }
}

/// After training, the torchvision export loads into torchvision with `strict=True`, and it
/// and the TorchScript export give predict's logits on the same image files.
#[test]
fn a_trained_runs_exports_give_predicts_logits_in_pytorch() {
    let arch = "resnet18";
    let dir = scratch_dir(NAME, "trained");
    let (tree, data) = dataset_256(&dir);
    let weights = tamed_model(&dir, arch, 13);
    let run = dir.join("run");
    train(arch, &data, &run, &weights, 2);
    let csv = predict(&run, &tree.join("test"), &dir);
    let mut exports = Vec::new();
    for (format, file) in [
        ("torchvision", "tv.safetensors"),
        ("torchscript", "model.pt"),
    ] {
        let out = dir.join(file);
        assert_ok(&lt_train(&[
            "export",
            s(&run),
            "--format",
            format,
            "--out",
            s(&out),
        ]));
        exports.push(out);
    }
    let r = assert_same_logits(arch, &exports[0], &csv, Some(&exports[1]));
    // Training moved the weights: the exported model is not the imported one.
    let before = logit_diff(arch, &weights, &csv);
    assert!(before > 1e-3, "the run did not train: {r}");
}

/// The largest difference between torchvision's `arch` with `weights` and the CSV's logits.
fn logit_diff(arch: &str, weights: &Path, csv: &Path) -> f64 {
    python_json(COMPARE, &[Path::new(arch), weights, csv])["diff"]
        .as_f64()
        .unwrap()
}
