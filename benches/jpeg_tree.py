#!/usr/bin/env python3
"""Writes a class-per-folder tree of photo-like JPEGs for the JPEG benchmarks
(scripts/bench-jpeg.sh), like lt-data/benches/build.rs's tree at any size:

    jpeg_tree.py OUT --n 2000 --size 500x375

Image i is a real Fashion-MNIST item (class folder class<label>) upscaled over a soft gradient,
tinted per class, with +-8 of per-pixel noise (which gives photo-like JPEG entropy: a
500x375 image at quality 90 is about 45 KB), its size varying by up to ~18 % around --size;
saved by PIL at quality 90 (4:2:0). Deterministic in --n and --size; existing files are kept.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist"
TINTS = np.array([[1.0, .4, .3], [.3, .8, 1.0], [.9, .9, .3], [.5, 1.0, .5], [1.0, .6, .9],
                  [.6, .5, 1.0], [1.0, .8, .6], [.4, 1.0, .9], [.8, .7, .5], [.7, .7, .7]])


def idx(name):
    with gzip.open(os.path.join(FMNIST, name + ".gz")) as f:
        raw = f.read()
    n = raw[3]
    dims = np.frombuffer(raw[4:4 + 4 * n], dtype=">u4")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n).reshape(dims)


def image(item, label, i, w0, h0):
    w = int(w0 * (0.92 + (i * 37 % 90) / 500))
    h = int(h0 * (0.92 + (i * 53 % 70) / 400))
    fg = np.asarray(Image.fromarray(item).resize((h, h), Image.BILINEAR), dtype=np.float32)
    full = np.zeros((h, w), np.float32)
    x0 = (w - h) // 2
    full[:, x0:x0 + h] = fg[:, :min(h, w - x0)]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = 40 + 60 * xx / w + 40 * yy / h
    noise = np.random.default_rng(i).integers(-8, 8, (h, w, 1)).astype(np.float32)
    a = (full / 255)[..., None]
    px = bg[..., None] * (1 - a) + full[..., None] * TINTS[label] + noise
    return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--size", default="500x375")
    a = p.parse_args()
    w, h = map(int, a.size.split("x"))
    x, y = idx("train-images-idx3-ubyte"), idx("train-labels-idx1-ubyte")
    for c in range(10):
        os.makedirs(os.path.join(a.out, f"class{c}"), exist_ok=True)
    for i in range(a.n):
        path = os.path.join(a.out, f"class{y[i]}", f"{i:05}.jpg")
        if not os.path.exists(path):
            image(x[i], y[i], i, w, h).save(path, quality=90)
    print(f"{a.n} JPEGs of about {a.size} in {a.out}")


if __name__ == "__main__":
    main()
