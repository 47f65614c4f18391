#!/usr/bin/env python3
"""One training step of ResNet-32 (CIFAR, option-A shortcuts) in PyTorch eager, the reference
for `lt-train bench` (lt-core/src/bench.rs): same model, init, loss and SGD settings.

Step = zero_grad, forward (train mode), cross-entropy, backward, SGD(lr 0.1, momentum 0.9,
weight decay 5e-4) on a fixed random batch on the CPU. Prints `step ms N` (median of the timed
steps after 5 warm-up steps) as its last line.

--channels-last runs `model.to(memory_format=torch.channels_last)` and converts the batch each
step, as `Backbone::set_channels_last` does on the Rust side.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = (planes - cin) // 2 if (stride != 1 or cin != planes) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            sc = x
        else:  # option A: subsample, zero-pad channels
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNetCifar(nn.Module):
    def __init__(self, depth=32, num_classes=10, in_channels=3):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(Block(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.blocks(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.head(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="resnet32")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    if not a.model.startswith("resnet") or a.model[6:] not in ("20", "32", "44", "56", "110"):
        ap.error(f"only the CIFAR ResNets are mirrored here, got {a.model!r}")
    if a.steps < 20:
        ap.error("at least 20 timed steps are needed for a median")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ResNetCifar(int(a.model[6:]))
    model.train()
    if a.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch,))
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        xb = x.contiguous(memory_format=torch.channels_last) if a.channels_last else x
        loss = F.cross_entropy(model(xb), y)
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t0) * 1e3
        if i >= a.warmup:
            times.append(dt)
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"model": a.model, "batch": a.batch, "threads": a.threads, "steps": a.steps,
                      "channels_last": a.channels_last, "params": n_params, "torch": torch.__version__,
                      "median_ms": statistics.median(times), "mean_ms": statistics.mean(times),
                      "min_ms": min(times), "max_ms": max(times)}))
    print(f"step ms {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
