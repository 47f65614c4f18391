#!/usr/bin/env python3
"""Read an lt-data dataset with numpy alone (the format is described in docs/format.md).

As a library:

    from read_ltd import load_dataset, read_split
    ds = load_dataset("data/fmnist-lt")          # manifest + every split, checksums verified
    train = ds["splits"]["train"]
    train.labels, train.counts                     # numpy uint32 arrays
    train.images                                   # raw splits: (N, H, W, C) uint8 memmap
    train.sample(0)                                # bytes of one sample (pixels or a JPEG/PNG)

As a command (what lt-data's tests run): `python read_ltd.py DIR [--samples 0,5,9]` prints
one JSON object per dataset: the manifest's class names and, per split, n, k, layout, counts,
labels and the hex bytes of the requested samples. A damaged file exits with status 1 and a
one-line message naming it.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

MAGIC = b"LTDSPLT\0"
VERSION = 2
OLDEST_VERSION = 1  # version 1's checksum covers bytes 128.. only
HEADER_LEN = 128
ALIGN = 64
ENCODINGS = {0: None, 1: "jpeg", 2: "png"}


class FormatError(Exception):
    """A file that is not a valid split file; the message names the file."""


def _align(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


class Split:
    """One memory-mapped split file (`*.ltd`). Nothing is copied out of the map."""

    def __init__(self, path, verify=True):
        self.path = path
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        size = mm.shape[0]
        if size < HEADER_LEN:
            raise FormatError(f"{path}: truncated: {size} bytes, shorter than the header")
        head = bytes(mm[:HEADER_LEN])
        if head[:8] != MAGIC:
            raise FormatError(f"{path}: not a split file (bad magic)")
        version, kind, n, k, h, w, c = struct.unpack_from("<IIQIIII", head, 8)
        if not OLDEST_VERSION <= version <= VERSION:
            raise FormatError(f"{path}: unsupported format version {version}")
        offsets_pos, labels_pos, counts_pos, data_pos, data_len = struct.unpack_from("<5Q", head, 40)
        checksum, encoding = struct.unpack_from("<II", head, 80)
        # The sections follow each other in a fixed order, each 64-byte aligned.
        expect = [
            _align(data_pos + data_len),
            _align(_align(data_pos + data_len) + 8 * (n + 1)),
        ]
        expect.append(_align(expect[1] + 4 * n))
        if data_pos != HEADER_LEN or [offsets_pos, labels_pos, counts_pos] != expect:
            raise FormatError(f"{path}: section positions do not match the header")
        if counts_pos + 4 * k != size:
            raise FormatError(f"{path}: truncated or padded: expected {counts_pos + 4 * k} bytes, file has {size}")
        if verify:
            if version == 1:
                got = zlib.crc32(mm[HEADER_LEN:]) & 0xFFFFFFFF
            else:  # the whole file, the checksum field read as zero
                got = zlib.crc32(mm[84:], zlib.crc32(bytes(mm[:80]) + b"\0\0\0\0")) & 0xFFFFFFFF
            if got != checksum:
                raise FormatError(f"{path}: checksum mismatch: header {checksum:08x}, data {got:08x}")
        self.kind = kind
        self.n, self.k = n, k
        self.encoding = ENCODINGS.get(encoding) if kind == 1 else None
        self.shape = (h, w, c) if kind == 0 else None
        self.checksum = checksum
        self.offsets = mm[offsets_pos:offsets_pos + 8 * (n + 1)].view("<u8")
        self.labels = mm[labels_pos:labels_pos + 4 * n].view("<u4")
        self.counts = mm[counts_pos:counts_pos + 4 * k].view("<u4")
        self.data = mm[data_pos:data_pos + data_len]
        steps = np.diff(self.offsets.astype(np.int64))
        if self.offsets[0] != 0 or self.offsets[-1] != data_len or (steps < 0).any():
            raise FormatError(f"{path}: sample offsets are not increasing within the data section")
        if kind == 0 and (h * w * c == 0 or (steps != h * w * c).any()):
            raise FormatError(f"{path}: raw samples must all be {h}x{w}x{c} bytes")
        if self.labels.size and int(self.labels.max()) >= k:
            raise FormatError(f"{path}: label {int(self.labels.max())} out of range for {k} classes")
        if not np.array_equal(np.bincount(self.labels, minlength=k), self.counts):
            raise FormatError(f"{path}: class counts do not match the labels")
        # Raw splits are one (N, H, W, C) array; encoded splits are variable-length byte runs.
        self.images = self.data.reshape(n, h, w, c) if kind == 0 else None

    def __len__(self):
        return self.n

    def sample(self, i):
        """Bytes of sample i: raw HWC pixels, or the encoded image (decode with PIL etc.)."""
        return self.data[int(self.offsets[i]):int(self.offsets[i + 1])].tobytes()


def read_split(path, verify=True):
    return Split(path, verify)


def load_dataset(directory, verify=True):
    """The manifest (a dict) with `splits[name]` replaced by opened `Split`s."""
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    splits = {}
    for name, info in manifest["splits"].items():
        s = Split(os.path.join(directory, info["file"]), verify)
        if f"{s.checksum:08x}" != info["checksum"] or s.counts.tolist() != info["counts"]:
            raise FormatError(f"{s.path}: differs from the manifest")
        storage = "raw" if s.kind == 0 else s.encoding
        shape = list(s.shape) if s.shape else None
        if s.k != manifest["num_classes"] or storage != info["storage"] or shape != info.get("shape"):
            raise FormatError(f"{s.path}: header disagrees with the manifest (classes, storage or shape)")
        splits[name] = s
    manifest = dict(manifest, splits=splits)
    return manifest


def main(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    directory = argv[0]
    samples = []
    if len(argv) >= 3 and argv[1] == "--samples":
        samples = [int(x) for x in argv[2].split(",") if x]
    try:
        ds = load_dataset(directory)
    except (FormatError, OSError, ValueError) as e:
        print(f"read_ltd: {e}", file=sys.stderr)
        return 1
    out = {"dataset": ds["dataset"], "class_names": ds["class_names"], "splits": {}}
    for name, s in ds["splits"].items():
        out["splits"][name] = {
            "n": s.n,
            "k": s.k,
            "shape": list(s.shape) if s.shape else None,
            "encoding": s.encoding,
            "images_shape": list(s.images.shape) if s.images is not None else None,
            "counts": s.counts.tolist(),
            "labels": s.labels.tolist(),
            "samples": {str(i): s.sample(i).hex() for i in samples if i < s.n},
        }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
