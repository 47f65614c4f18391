#!/usr/bin/env python3
"""PyTorch eager training throughput, the reference for `lt-train` in scripts/gpu-check.sh:
the same ResNet-32 (benches/step_torch.py), batch, optimiser and augmentation, fed by a torch
DataLoader (worker processes, pinned memory) from the same lt dataset (read with the numpy
reader of docs/read_ltd.py).

    python3 benches/train_torch.py DATASET --epochs 3 --batch 128 --device cuda [--workers N]

Prints one line per epoch and ends with `images/s N` (epochs after the first) and
`train_loss L` (the last epoch's mean loss).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "docs"))
from read_ltd import load_dataset  # noqa: E402
from step_torch import ResNetCifar  # noqa: E402


class Split(torch.utils.data.Dataset):
    """Raw HWC uint8 images of an lt split, CIFAR training augmentation (pad 4 with zeros,
    random crop, flip) and normalisation, as torchvision's RandomCrop/Flip/ToTensor/Normalize."""

    def __init__(self, split, mean, std):
        self.split = split
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        img = torch.from_numpy(np.array(self.split.images[i])).permute(2, 0, 1)  # C H W
        h, w = img.shape[1], img.shape[2]
        img = F.pad(img, (4, 4, 4, 4))
        y0, x0 = np.random.randint(0, 9, size=2)
        img = img[:, y0:y0 + h, x0:x0 + w]
        if np.random.rand() < 0.5:
            img = img.flip(2)
        x = (img.float() / 255.0 - self.mean[: img.shape[0]]) / self.std[: img.shape[0]]
        return x, int(self.split.labels[i])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, verify=False)
    train = ds["splits"]["train"]
    mean, std = ds["mean"], ds["std"]
    if len(mean) == 1:
        mean, std = mean * 3, std * 3
    device = torch.device(args.device)
    loader = torch.utils.data.DataLoader(
        Split(train, mean, std),
        batch_size=args.batch,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=args.workers > 0,
        drop_last=False,
    )
    torch.manual_seed(0)
    channels = train.shape[2] if train.shape else 3
    model = ResNetCifar(32, ds["num_classes"], channels).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    rates = []
    loss_mean = float("nan")
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        total = torch.zeros((), device=device)
        seen = 0
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            if x.shape[0] < 2:
                continue
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach() * x.shape[0]
            seen += x.shape[0]
        loss_mean = float(total) / max(seen, 1)
        secs = time.perf_counter() - t0
        if epoch > 0 or args.epochs == 1:
            rates.append(seen / secs)
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss_mean:.4f} {seen / secs:.0f} img/s", flush=True)
    print(f"images/s {np.mean(rates):.0f}")
    print(f"train_loss {loss_mean:.4f}")


if __name__ == "__main__":
    main()
