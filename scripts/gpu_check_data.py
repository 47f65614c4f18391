#!/usr/bin/env python3
"""Writes a synthetic CIFAR-10 source in the binary format (data_batch_{1..5}.bin,
test_batch.bin, batches.meta.txt) for scripts/gpu-check.sh, whose machines have no network:
each class is a smooth random colour pattern plus noise, so a network can learn it.

    python3 scripts/gpu_check_data.py OUT_DIR [--per-class N] [--test-per-class M]

With the defaults (1,000 per class in each of the five training files, 1,000 per class in the
test file) `lt-data build --dataset cifar10 --imbalance 100` keeps 12,406 training images,
the size of CIFAR-10-LT.
"""
import argparse
import os

import numpy as np


def templates(rng):
    """One smooth 3x32x32 uint8 pattern per class (a random 4x4 grid, upsampled)."""
    coarse = rng.integers(0, 256, size=(10, 3, 4, 4)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)


def batch(rng, base, per_class):
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    rng.shuffle(labels)
    noise = rng.normal(0.0, 40.0, size=(labels.size, 3, 32, 32))
    images = np.clip(base[labels] * 0.7 + 38 + noise, 0, 255).astype(np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(labels.size, -1)], axis=1)
    return records.tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=1000, help="per class in each training file")
    ap.add_argument("--test-per-class", type=int, default=1000)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    base = templates(rng)
    for i in range(1, 6):
        with open(os.path.join(args.out, f"data_batch_{i}.bin"), "wb") as f:
            f.write(batch(rng, base, args.per_class))
    with open(os.path.join(args.out, "test_batch.bin"), "wb") as f:
        f.write(batch(rng, base, args.test_per_class))
    with open(os.path.join(args.out, "batches.meta.txt"), "w") as f:
        f.write("\n".join(f"pattern{c}" for c in range(10)) + "\n")


if __name__ == "__main__":
    main()
