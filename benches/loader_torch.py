#!/usr/bin/env python3
"""The PyTorch side of the loader benchmark (lt-data/benches/loader.rs).

Reads the same split files (.ltd) with numpy alone (np.memmap over the documented layout),
and times torch's DataLoader with the usual torchvision transforms:
  cifar:    RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize
  imagenet: RandomResizedCrop(224), RandomHorizontalFlip, ColorJitter(0.4, 0.4, 0.4),
            ToTensor, Normalize  (PIL decode of the stored JPEG bytes)
Prints `peak_rss_bytes N` (largest sum of resident memory over the main process and its
workers, sampled every 50 ms) and, last, `images/s N`.
"""
import argparse
import io
import os
import struct
import threading
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_header(path):
    with open(path, "rb") as f:
        h = f.read(128)
    if h[:8] != b"LTDSPLT\0":
        raise SystemExit(f"{path}: not a split file (bad magic)")
    version, kind, n, k, height, width, channels = struct.unpack_from("<IIQIIII", h, 8)
    offsets_pos, labels_pos, counts_pos, data_pos, data_len = struct.unpack_from("<5Q", h, 40)
    (encoding,) = struct.unpack_from("<I", h, 84)
    return dict(kind=kind, n=n, k=k, shape=(height, width, channels), offsets=offsets_pos,
                labels=labels_pos, data=data_pos, data_len=data_len, encoding=encoding)


class SplitDataset(Dataset):
    """Samples of a split file as PIL images; the map is opened lazily in each worker."""

    def __init__(self, path, transform):
        self.path = path
        self.h = read_header(path)
        self.transform = transform
        self.labels = np.fromfile(path, dtype="<u4", count=self.h["n"], offset=self.h["labels"])
        self.map = None

    def __len__(self):
        return self.h["n"]

    def _open(self):
        h = self.h
        mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        self.offsets = mm[h["offsets"]:h["offsets"] + 8 * (h["n"] + 1)].view("<u8")
        self.data = mm[h["data"]:h["data"] + h["data_len"]]
        if h["kind"] == 0:
            self.images = self.data.reshape(h["n"], *h["shape"])
        self.map = mm

    def __getitem__(self, i):
        if self.map is None:
            self._open()
        if self.h["kind"] == 0:
            img = Image.fromarray(np.asarray(self.images[i]))
        else:
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            img = Image.open(io.BytesIO(self.data[a:b].tobytes())).convert("RGB")
        return self.transform(img), int(self.labels[i])


def transform_for(aug):
    if aug == "cifar":
        return transforms.Compose([
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ])
    if aug == "imagenet":
        return transforms.Compose([
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.4, 0.4, 0.4),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])
    raise SystemExit(f"unknown augmentation {aug!r} (known: cifar, imagenet)")


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class PeakRss(threading.Thread):
    """Largest total RSS of this process and its worker processes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.running = True

    def run(self):
        me = os.getpid()
        while self.running:
            total = rss_bytes(me) + sum(rss_bytes(c) for c in children(me))
            self.peak = max(self.peak, total)
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path")
    p.add_argument("--aug", default="cifar")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--epochs", type=int, default=1)
    a = p.parse_args()
    path = os.path.join(a.path, "train.ltd") if os.path.isdir(a.path) else a.path
    ds = SplitDataset(path, transform_for(a.aug))
    dl = DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers, drop_last=False)
    mon = PeakRss()
    mon.start()
    start = time.perf_counter()
    images = 0
    for _ in range(a.epochs):
        for x, y in dl:
            images += x.shape[0]
    secs = time.perf_counter() - start
    mon.running = False
    mon.join()
    print(f"torch {torch.__version__} DataLoader workers {a.workers} batch {a.batch} epochs {a.epochs}")
    print(f"images {images} in {secs:.3f} s")
    print(f"peak_rss_bytes {mon.peak}")
    print(f"images/s {images / secs:.0f}")


if __name__ == "__main__":
    main()
