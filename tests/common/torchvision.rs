//! PyTorch's side of the weights tests: torchvision ResNets and a MiSLAS / LDAM-DRW CIFAR
//! ResNet with random weights and batch-norm statistics, their logits of a fixed batch, and a
//! tiny class-per-folder dataset of RGB images for ImageNet-layout models, built with the real
//! `lt-data`.

use super::lt_data::{s, stdout};
use super::paths::{python_script, scratch};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A CIFAR ResNet in the layout of LDAM-DRW's and MiSLAS' `resnet_cifar.py` (option A
/// shortcut: subsample, zero-pad channels; head `linear`), as Python source: `ResNetCifar(depth,
/// num_classes, in_channels)`.
pub const CIFAR_RESNET_PY: &str = r#"
import torch, torch.nn as nn, torch.nn.functional as F
class LambdaLayer(nn.Module):
    def __init__(self, f):
        super().__init__(); self.f = f
    def forward(self, x):
        return self.f(x)
class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != planes:
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0))
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))
class ResNetCifar(nn.Module):
    def __init__(self, depth, num_classes, in_channels=3):
        super().__init__(); n = (depth - 2) // 6; self.cin = 16
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._layer(16, n, 1); self.layer2 = self._layer(32, n, 2); self.layer3 = self._layer(64, n, 2)
        self.linear = nn.Linear(64, num_classes)
    def _layer(self, planes, n, stride):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.cin, planes, s)); self.cin = planes
        return nn.Sequential(*blocks)
    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.avg_pool2d(out, out.size()[3]).flatten(1))
"#;

/// Writes `torchvision.models.ARCH(num_classes=K)` with random BN statistics and affine
/// parameters (eval mode) as a safetensors state dict (argv 4), and `{x: 4 random 3x64x64
/// inputs, logits}` (argv 5).
const MAKE_TORCHVISION: &str = r#"
import sys, torch, torchvision
from safetensors.torch import save_file
arch, k, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed)
m = getattr(torchvision.models, arch)(num_classes=k)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.1); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.1)
            mod.num_batches_tracked.fill_(seed + 7)
    m.fc.bias.normal_(0, 0.5)
m.eval()
x = torch.randn(4, 3, 64, 64)
with torch.no_grad():
    logits = m(x)
save_file({n: t.contiguous() for n, t in m.state_dict().items()}, sys.argv[4])
save_file({"x": x, "logits": logits}, sys.argv[5])
"#;

/// A PyTorch model written by [`torchvision_model`].
pub struct TorchModel {
    pub arch: String,
    pub num_classes: usize,
    /// Its state dict, torchvision's names (`num_batches_tracked` included).
    pub weights: PathBuf,
    /// `x` (`[4, 3, 64, 64]`, normalised-image-like inputs) and the model's `logits` of it.
    pub io: PathBuf,
}

/// torchvision's `ARCH(num_classes=K)` with random weights and BN statistics from `seed`, in
/// `dir` (see `MAKE_TORCHVISION`).
pub fn torchvision_model(dir: &Path, arch: &str, num_classes: usize, seed: u64) -> TorchModel {
    let weights = dir.join(format!("{arch}-k{num_classes}.safetensors"));
    let io = dir.join(format!("{arch}-k{num_classes}-io.safetensors"));
    let (k, s) = (num_classes.to_string(), seed.to_string());
    let args = [Path::new(arch), Path::new(&k), Path::new(&s), &weights, &io];
    python_script(MAKE_TORCHVISION, &args);
    TorchModel {
        arch: arch.into(),
        num_classes,
        weights,
        io,
    }
}

/// `python -c SCRIPT ARGS` whose stdout is JSON.
pub fn python_json(script: &str, args: &[&Path]) -> serde_json::Value {
    let out = python_script(script, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A class-per-folder tree under `tree` of 3 classes (`a`, `b`, `c`) of random `side`x`side`
/// RGB PNGs (`0.png`, `1.png`, ...), `train` and `test` images a class, from the xorshift `seed`,
/// built into the dataset `out` with the real `lt-data` (folder recipe: ImageNet evaluation).
pub fn rgb_folder_dataset(
    tree: &Path,
    out: &Path,
    side: u32,
    (train, test): (usize, usize),
    seed: u32,
) {
    let mut state = seed;
    for (split, n) in [("train", train), ("test", test)] {
        for class in ["a", "b", "c"] {
            let d = tree.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let img = image::RgbImage::from_fn(side, side, |_, _| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let (src, dst) = (s(tree), s(out));
    stdout(&[
        "build",
        "--dataset",
        "folder",
        "-q",
        "--src",
        src,
        "--out",
        dst,
    ]);
}

/// [`rgb_folder_dataset`] of 64x64 images, 2 training and 1 test image a class, built once per
/// test binary (evaluated at 224x224).
pub fn rgb_dataset(name: &str) -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = scratch(name);
        let out = dir.join("rgb");
        rgb_folder_dataset(&dir.join("rgb-tree"), &out, 64, (2, 1), 0x2545_f491);
        out
    })
}
