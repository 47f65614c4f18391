#!/usr/bin/env python3
"""Writes a simulated ImageNet-LT training set in the ILSVRC2012 layout, for
scripts/sim-imagenet-lt.sh (which times `lt-data build` on it):

    python3 scripts/sim_imagenet_lt.py SIM_DIR --splits SPLITS_DIR [--total N] [--size WxH]
                                       [--test-per-class M] [--jobs J]

- SIM_DIR/ILSVRC2012/train/<wnid>/<wnid>_<i>.JPEG: smooth random images (a random 8x6 colour
  grid, bicubic-upsampled) of WxH (default 500x375, about ImageNet's mean), JPEG quality 90;
- SIM_DIR/ILSVRC2012/val/ILSVRC2012_val_*.JPEG: M test images a class (default 1), flat as
  ILSVRC2012_img_val.tar extracts, named by the first M lines of each class of the real
  ImageNet_LT_test.txt;
- SIM_DIR/lists/ImageNet_LT_train.txt (`train/<wnid>/<file> label`) and ImageNet_LT_test.txt.

The 1,000 classes are the WordNet ids of the real ImageNet_LT_val.txt, with its labels. The
official ImageNet_LT_train.txt is not available here, so the class sizes are a profile with its
three published numbers, 1,000 classes, 1,280 to 5 images, 115,846 in all: a power law
n(r) = 1280 (1 + r/b)^-p over the size rank r = 0..999, p chosen so that n(999) = 5 and b
(bisection) so that the sizes sum to 115,846, rounded to whole images (largest remainders)
without changing the three numbers; the sizes go to the classes in a seeded random order. With
--total N below 115,846 every class size is scaled down in proportion (at least one image a
class), for a quick run of the script only.
"""
import argparse
import math
import os
from multiprocessing import Pool

import numpy as np
from PIL import Image

CLASSES, N_MAX, N_MIN, TOTAL = 1000, 1280, 5, 115_846


def power_law(k=CLASSES, n_max=N_MAX, n_min=N_MIN, total=TOTAL):
    """The fitted class sizes, largest first, as floats."""
    ratio = math.log(n_max / n_min)

    def sizes(b):
        p = ratio / math.log1p((k - 1) / b)
        return [n_max * (1 + r / b) ** -p for r in range(k)]

    # The sum grows with b: from n_max + (k-1) n_min (b -> 0) to the exponential profile's.
    lo, hi = 1e-6, 1e9
    if not sum(sizes(lo)) < total < sum(sizes(hi)):
        raise SystemExit(f"no power law gives {total} images in {k} classes of {n_max} to {n_min}")
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if sum(sizes(mid)) < total else (lo, mid)
    return sizes(hi)


def whole(sizes, total, first_last=None):
    """`sizes` rounded to whole numbers (at least 1) summing to `total` by largest remainders,
    sorted largest first; `first_last` pins the largest and smallest."""
    out = [max(1, math.floor(s)) for s in sizes]
    inner = range(1, len(sizes) - 1) if first_last else range(len(sizes))
    if first_last:
        out[0], out[-1] = first_last
    left = total - sum(out)
    by_remainder = sorted(inner, key=lambda i: sizes[i] - math.floor(sizes[i]), reverse=True)
    for i in by_remainder[: max(left, 0)]:
        out[i] += 1
    for _ in range(-left):  # the floor of one image a class overshot: take from the largest
        out[max(inner, key=out.__getitem__)] -= 1
    assert sum(out) == total and min(out) >= 1, (sum(out), total)
    return sorted(out, reverse=True)


def class_sizes(total, seed):
    """Per-label sizes: the fitted profile (scaled to `total`), in a seeded random class order."""
    full = whole(power_law(), TOTAL, (N_MAX, N_MIN))
    assert (len(full), max(full), min(full), sum(full)) == (CLASSES, N_MAX, N_MIN, TOTAL)
    sizes = full if total == TOTAL else whole([n * total / TOTAL for n in full], total)
    order = np.random.default_rng(seed).permutation(CLASSES)
    per_label = [0] * CLASSES
    for rank, label in enumerate(order):
        per_label[label] = sizes[rank]
    return per_label


def read_list(path):
    """(path, label) lines of an official list."""
    with open(path) as f:
        return [(p, int(l)) for p, l in (line.rsplit(None, 1) for line in f if line.strip())]


def write_image(job):
    path, seed, width, height = job
    if os.path.exists(path):
        return
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(grid, "RGB").resize((width, height), Image.BICUBIC)
    tmp = path + ".part"
    img.save(tmp, "JPEG", quality=90)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sim_dir")
    ap.add_argument("--splits", required=True, help="folder of the real ImageNet_LT_{val,test}.txt")
    ap.add_argument("--total", type=int, default=TOTAL)
    ap.add_argument("--size", default="500x375")
    ap.add_argument("--test-per-class", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not CLASSES <= a.total <= TOTAL:
        raise SystemExit(f"--total must be in {CLASSES}..{TOTAL}, got {a.total}")
    width, height = (int(x) for x in a.size.split("x"))
    wnid = {}
    for p, label in read_list(os.path.join(a.splits, "ImageNet_LT_val.txt")):
        wnid.setdefault(label, p.split("/")[1])
    assert sorted(wnid) == list(range(CLASSES)), "ImageNet_LT_val.txt does not name 1,000 classes"
    root = os.path.join(a.sim_dir, "ILSVRC2012")
    lists = os.path.join(a.sim_dir, "lists")
    os.makedirs(lists, exist_ok=True)
    jobs, train = [], []
    for label, n in enumerate(class_sizes(a.total, a.seed)):
        os.makedirs(os.path.join(root, "train", wnid[label]), exist_ok=True)
        for i in range(n):
            rel = f"train/{wnid[label]}/{wnid[label]}_{i + 1}.JPEG"
            train.append(f"{rel} {label}\n")
            jobs.append((os.path.join(root, rel), label * 100_000 + i, width, height))
    test, taken = [], {}
    os.makedirs(os.path.join(root, "val"), exist_ok=True)
    for p, label in read_list(os.path.join(a.splits, "ImageNet_LT_test.txt")):
        if taken.get(label, 0) < a.test_per_class:
            taken[label] = taken.get(label, 0) + 1
            test.append(f"{p} {label}\n")
            flat = os.path.join(root, "val", p.rsplit("/", 1)[1])
            jobs.append((flat, 10**9 + len(test), width, height))
    with Pool(a.jobs) as pool:
        for _ in pool.imap_unordered(write_image, jobs, chunksize=64):
            pass
    for name, lines in [("ImageNet_LT_train.txt", train), ("ImageNet_LT_test.txt", test)]:
        with open(os.path.join(lists, name), "w") as f:
            f.writelines(lines)
    sizes = class_sizes(a.total, a.seed)
    groups = [sum(n > 100 for n in sizes), sum(20 <= n <= 100 for n in sizes), sum(n < 20 for n in sizes)]
    print(f"{len(train)} training images ({len(sizes)} classes, {max(sizes)} to {min(sizes)}; "
          f"many/medium/few {'/'.join(map(str, groups))}), {len(test)} test images, "
          f"{width}x{height}, in {root}")


if __name__ == "__main__":
    main()
