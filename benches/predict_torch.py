#!/usr/bin/env python3
"""The PyTorch side of the `lt-train predict` comparison (README, "Performance").

Does what `lt-train predict --top-k K --out OUT.csv DIR` does, the way a PyTorch user would:
the model from `lt-train export --format torchvision` (safetensors, loaded strict), every image
file of DIR (sorted) through PIL and torchvision's `ToTensor` + `Normalize` (the dataset's mean
and std), a DataLoader of batches of 256 with `--workers` processes, eval-mode forward under
`torch.no_grad`, softmax, the top K, and a CSV of `path, class_i, prob_i`.

  predict_torch.py --weights W --arch resnet32|resnet18|... --dataset D --top-k K --out OUT DIR

`resnet32` and the other CIFAR depths use the MiSLAS / LDAM-DRW layout (head `linear`); the
others are torchvision's. Only the fashion-mnist style grey or RGB images at the dataset's
stored size are handled (no resize), which is what the comparison feeds both sides.
"""
import argparse
import csv
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image
from safetensors.torch import load_file

from step_torch import Block  # the option-A basic block of the training-step benchmark


class CifarResNet(nn.Module):
    """MiSLAS / LDAM-DRW CIFAR ResNet (option A shortcut, head `linear`): step_torch's blocks
    under the names `lt-train export --format torchvision` writes."""

    def __init__(self, depth, num_classes, in_channels):
        super().__init__()
        n, cin = (depth - 2) // 6, 16
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers = []
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(Block(cin, planes, s))
                cin = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


class Images(torch.utils.data.Dataset):
    def __init__(self, paths, mean, std, grey):
        self.paths, self.grey = paths, grey
        self.tf = torchvision.transforms.Compose(
            [torchvision.transforms.ToTensor(), torchvision.transforms.Normalize(mean, std)]
        )

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert("L" if self.grey else "RGB")
        return self.tf(img)


def model(arch, weights, num_classes, in_channels):
    if arch.startswith("resnet") and int(arch[6:].rstrip("b")) in (20, 32, 44, 56, 110):
        m = CifarResNet(int(arch[6:]), num_classes, in_channels)
    else:
        m = getattr(torchvision.models, arch)(num_classes=num_classes)
    m.load_state_dict(load_file(weights), strict=True)
    return m.eval()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("dir")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    manifest = json.load(open(os.path.join(a.dataset, "manifest.json")))
    names, mean, std = manifest["class_names"], manifest["mean"], manifest["std"]
    grey = len(mean) == 1
    paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(a.dir) for f in fs)
    m = model(a.arch, a.weights, len(names), 1 if grey else 3)
    loader = torch.utils.data.DataLoader(
        Images(paths, mean, std, grey), batch_size=256, num_workers=a.workers
    )
    rows = []
    with torch.no_grad():
        for x in loader:
            p, c = F.softmax(m(x).double(), dim=1).topk(a.top_k, dim=1)
            rows.extend(zip(c.tolist(), p.tolist()))
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path"] + [h for i in range(1, a.top_k + 1) for h in (f"class_{i}", f"prob_{i}")])
        for path, (cs, ps) in zip(paths, rows):
            w.writerow([path] + [v for c, q in zip(cs, ps) for v in (names[c], repr(q))])
    print(f"images {len(paths)}", file=sys.stderr)


if __name__ == "__main__":
    main()
