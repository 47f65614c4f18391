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
use std::path::{Path, PathBuf};

const NAME: &str = "torchvision_predict";

/// torchvision `ARCH(num_classes=3)` loaded from argv 2 (safetensors), in eval mode, on each
/// image named in the CSV (argv 3) through torchvision's eval transform; prints the largest
/// difference from the CSV's logits, the largest logit and the number of images.
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
diff, scale = 0.0, 0.0
for r in rows:
    with torch.no_grad():
        ref = m(tf(Image.open(r["path"]).convert("RGB"))[None])[0].double()
    ours = torch.tensor([float(r["logit_" + c]) for c in "abc"], dtype=torch.float64)
    diff = max(diff, (ref - ours).abs().max().item())
    scale = max(scale, ref.abs().max().item())
print(json.dumps({"diff": diff, "scale": scale, "images": len(rows)}))
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

/// A class-per-folder tree of 3 classes of random 256x256 RGB PNGs (2 training, 2 test images
/// each), and the dataset the real `lt-data` builds from it (ImageNet recipe).
fn dataset_256(dir: &Path) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    let mut state = 0x9e37_79b9u32;
    for split in ["train", "test"] {
        for class in ["a", "b", "c"] {
            let d = tree.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..2 {
                let img = image::RgbImage::from_fn(256, 256, |_, _| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let out = dir.join("data");
    stdout(&[
        "build",
        "--dataset",
        "folder",
        "-q",
        "--src",
        s(&tree),
        "--out",
        s(&out),
    ]);
    (tree, out)
}

#[test]
fn predict_gives_torchvisions_logits_for_imported_resnets() {
    for (arch, seed) in [("resnet18", 11), ("resnet50", 12)] {
        let dir = scratch_dir(NAME, arch);
        let (tree, data) = dataset_256(&dir);
        let m = torchvision_model(&dir, arch, 3, seed);
        let run = dir.join("run");
        let weights = dir.join(format!("{arch}-tamed.safetensors"));
        python_script(TAME, &[Path::new(arch), &m.weights, &weights]);
        let init = weights.display().to_string();
        assert_ok(&lt_train(&[
            "--dataset",
            s(&data),
            "--out",
            s(&run),
            "--model",
            arch,
            "--init-backbone",
            &init,
            "--epochs=0",
            "--stage2-epochs=0",
            "--device=cpu",
            "--threads=1",
            "--set=loader_threads=1",
            "--set=stage1.batch_size=2",
            "-q",
        ]));
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
            s(&tree.join("test")),
        ]));
        let r = python_json(COMPARE, &[Path::new(arch), &weights, &csv]);
        eprintln!("{arch}: {r}");
        assert_eq!(r["images"], 6, "{r}");
        let (diff, scale) = (r["diff"].as_f64().unwrap(), r["scale"].as_f64().unwrap());
        assert!(scale > 0.1, "logits too small to compare: {r}");
        assert!(
            diff <= 1e-4,
            "{arch}: predict's logits differ from torchvision's: {r}"
        );
    }
}
