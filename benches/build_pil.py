#!/usr/bin/env python3
"""The Python side of the build benchmark (lt-data/benches/build.rs).

Does the work of `lt-data build` with numpy, PIL and multiprocessing.Pool, and writes the
same split files (docs/format.md), so both sides produce the same output:

  idx SRC OUT     Fashion-MNIST IDX files (gzip): parse, carve the exp-profile split
                  (per class: shuffle, keep the first n_c; test split kept whole), write
                  raw 28x28x1 train.ltd / test.ltd. The two splits are read in parallel.
  folder SRC OUT  class-per-folder JPEG tree: decode, resize so the longer side is at most
                  --max-side (bilinear, antialiased as PIL does when shrinking), re-encode JPEG
                  at --quality, one image per task on a Pool of --workers processes, and
                  write train.ltd in class order. --draft: let PIL's JPEG decoder reduce the
                  image in the DCT domain first (Image.draft: the smallest of 1/2, 1/4, 1/8
                  that stays at or above the stored size).
  decode SRC OUT  the decode floor: only decode every image of the tree (Image.load), on the
                  same Pool; nothing is resized, encoded or written (OUT is not touched).

Prints `seconds S` and, last, `images/s N` (timed from the start of the work, Pool start-up
included, to the renamed output file).
"""
import argparse
import gzip
import io
import os
import struct
import sys
import time
import zlib
from multiprocessing import Pool

import numpy as np
from PIL import Image

MAGIC = b"LTDSPLT\0"
HEADER_LEN = 128
ALIGN = 64


def _align(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def write_split(path, samples, labels, k, shape=None, encoding=1):
    """Writes one split file: `samples` is a list of bytes, or one contiguous bytes object
    of N fixed-size raw samples when `shape` (h, w, c) is given."""
    n = len(labels)
    if shape is not None:
        size = shape[0] * shape[1] * shape[2]
        body = samples
        offsets = np.arange(n + 1, dtype="<u8") * size
    else:
        body = b"".join(samples)
        offsets = np.zeros(n + 1, dtype="<u8")
        np.cumsum([len(s) for s in samples], out=offsets[1:])
    data_len = len(body)
    off_pos = _align(HEADER_LEN + data_len)
    lab_pos = _align(off_pos + 8 * (n + 1))
    cnt_pos = _align(lab_pos + 4 * n)
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=k).astype("<u4")
    meta = bytearray(cnt_pos + 4 * k - (HEADER_LEN + data_len))
    base = HEADER_LEN + data_len
    for pos, arr in ((off_pos, offsets), (lab_pos, np.asarray(labels, dtype="<u4")), (cnt_pos, counts)):
        b = arr.tobytes()
        meta[pos - base:pos - base + len(b)] = b
    crc = zlib.crc32(meta, zlib.crc32(body)) & 0xFFFFFFFF
    kind, (h, w, c), enc = (0, shape, 0) if shape is not None else (1, (0, 0, 0), encoding)
    header = MAGIC + struct.pack("<IIQIIII", 1, kind, n, k, h, w, c)
    header += struct.pack("<5Q", off_pos, lab_pos, cnt_pos, HEADER_LEN, data_len)
    header += struct.pack("<II", crc, enc)
    header = header.ljust(HEADER_LEN, b"\0")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(body)
        f.write(meta)
    os.replace(tmp, path)


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _load_pair(args):
    images, labels = args
    return read_idx(images), read_idx(labels)


def exp_counts(available, imbalance):
    k = len(available)
    n_max = max(available)
    return [min(int(n_max * (1.0 / imbalance) ** (c / (k - 1.0))), a) for c, a in enumerate(available)]


def build_idx(src, out, workers, imbalance, seed):
    name = lambda s: os.path.join(src, s + ".gz") if os.path.exists(os.path.join(src, s + ".gz")) else os.path.join(src, s)
    pairs = [(name("train-images-idx3-ubyte"), name("train-labels-idx1-ubyte")),
             (name("t10k-images-idx3-ubyte"), name("t10k-labels-idx1-ubyte"))]
    with Pool(min(workers, 2)) as pool:
        (tr_x, tr_y), (te_x, te_y) = pool.map(_load_pair, pairs)
    k = int(tr_y.max()) + 1
    counts = exp_counts(np.bincount(tr_y, minlength=k).tolist(), imbalance)
    rng = np.random.RandomState(seed)
    keep = []
    for c in range(k):
        idx = np.where(tr_y == c)[0]
        rng.shuffle(idx)
        keep.append(idx[:counts[c]])
    keep = np.concatenate(keep)
    os.makedirs(out, exist_ok=True)
    h, w = tr_x.shape[1:]
    write_split(os.path.join(out, "train.ltd"), tr_x[keep].tobytes(), tr_y[keep], k, (h, w, 1))
    write_split(os.path.join(out, "test.ltd"), np.ascontiguousarray(te_x).tobytes(), te_y, k, (h, w, 1))
    return len(keep) + len(te_y)


_MAX_SIDE = 256
_QUALITY = 90
_DRAFT = False


def _init(max_side, quality, draft):
    global _MAX_SIDE, _QUALITY, _DRAFT
    _MAX_SIDE, _QUALITY, _DRAFT = max_side, quality, draft


def _reencode(path):
    img = Image.open(path)
    w, h = img.size
    size = (w, h)
    if max(w, h) > _MAX_SIDE:
        scale = _MAX_SIDE / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if _DRAFT:
            img.draft("RGB", size)
    img = img.convert("RGB")
    if img.size != size:
        img = img.resize(size, Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=_QUALITY)
    return buf.getvalue()


def _decode(path):
    img = Image.open(path)
    img.load()
    return img.size


def tree_files(src):
    """Every image of a class-per-folder tree, in class order, and its class index."""
    exts = (".jpg", ".jpeg", ".png")
    classes = sorted(d for d in os.listdir(src) if not d.startswith(".") and os.path.isdir(os.path.join(src, d)))
    files, labels = [], []
    for c, name in enumerate(classes):
        for root, dirs, names in sorted(os.walk(os.path.join(src, name))):
            dirs.sort()
            for f in sorted(names):
                if f.lower().endswith(exts) and not f.startswith("."):
                    files.append(os.path.join(root, f))
                    labels.append(c)
    return files, labels, classes


def decode_folder(src, workers):
    files, _, _ = tree_files(src)
    with Pool(workers) as pool:
        pool.map(_decode, files, chunksize=max(1, len(files) // (workers * 8)))
    return len(files)


def build_folder(src, out, workers, max_side, quality, draft):
    files, labels, classes = tree_files(src)
    with Pool(workers, initializer=_init, initargs=(max_side, quality, draft)) as pool:
        encoded = pool.map(_reencode, files, chunksize=max(1, len(files) // (workers * 8)))
    os.makedirs(out, exist_ok=True)
    write_split(os.path.join(out, "train.ltd"), encoded, labels, len(classes))
    return len(files)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["idx", "folder", "decode"])
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--imbalance", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-side", type=int, default=256)
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--draft", action="store_true")
    a = p.parse_args()
    t = time.perf_counter()
    if a.mode == "idx":
        n = build_idx(a.src, a.out, a.workers, a.imbalance, a.seed)
    elif a.mode == "decode":
        n = decode_folder(a.src, a.workers)
    else:
        n = build_folder(a.src, a.out, a.workers, a.max_side, a.quality, a.draft)
    dt = time.perf_counter() - t
    print(f"images {n}")
    print(f"seconds {dt:.3f}")
    print(f"images/s {n / dt:.0f}")


if __name__ == "__main__":
    sys.exit(main())
