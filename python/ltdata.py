"""Read lt-data datasets from Python: numpy only; torch and PIL when they are installed.

A dataset built by ``lt-data build ... --out DIR`` is a directory holding ``manifest.json``,
``train.ltd``, ``test.ltd`` and optionally ``val.ltd`` (the format: docs/format.md). This module
memory-maps a split file and hands out its images as HWC uint8 numpy arrays; encoded splits
(``--store jpeg``) are decoded with PIL, one image at a time.

Usage with PyTorch (``python/`` on ``sys.path``, or this file copied next to your script)::

    import torch
    from torch.utils.data import DataLoader
    from ltdata import LtDataset

    def to_tensor(img):                      # HWC uint8 numpy -> CHW float in [0, 1]
        return torch.from_numpy(img).permute(2, 0, 1).float().div(255)

    train = LtDataset("data/fmnist-lt", split="train", transform=to_tensor)
    train.classes, train.class_counts        # names from the manifest, images per class
    loader = DataLoader(train, batch_size=128, shuffle=True, num_workers=2)
    for images, labels in loader:            # (128, 1, 28, 28) float, (128,) int64
        ...

torchvision transforms that take PIL images work with ``transform=lambda a:
tf(PIL.Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a))``.

Without torch, ``LtDataset`` is a plain sequence of ``(image, label)`` pairs. ``LtdFile(path)``
reads one split file alone. A file that is not a whole split file raises ``ValueError`` with a
message naming the file (``data/x/train.ltd: truncated: expected 1234 bytes, file has 1000``).
"""

import io
import json
import os
import struct
import zlib

import numpy as np

__all__ = ["LtdFile", "LtDataset"]

MAGIC = b"LTDSPLT\0"
VERSIONS = (1, 2)  # version 1 differs only in what the checksum covers
HEADER_LEN = 128
RAW, ENCODED = 0, 1
ENCODINGS = {1: "jpeg", 2: "png"}


def _align64(x):
    return (x + 63) // 64 * 64


def _fail(path, msg):
    raise ValueError(f"{path}: {msg}")


class _Header:
    """The fields of a split file's 128-byte header, checked against each other and the size."""

    def __init__(self, path, head, size):
        if size < HEADER_LEN:
            _fail(path, f"truncated: {size} bytes, shorter than the {HEADER_LEN}-byte header")
        if head[:8] != MAGIC:
            _fail(path, f"not an lt-data split file (magic {head[:8]!r}, expected {MAGIC!r})")
        (self.version, self.kind, self.n, self.k, self.height, self.width,
         self.channels) = struct.unpack_from("<IIQIIII", head, 8)
        if self.version not in VERSIONS:
            _fail(path, f"unsupported format version {self.version} (this reader knows {VERSIONS})")
        (self.offsets_pos, self.labels_pos, self.counts_pos, self.data_pos,
         self.data_len) = struct.unpack_from("<5Q", head, 40)
        self.checksum, encoding = struct.unpack_from("<II", head, 80)
        if self.kind == RAW:
            self.encoding = None
            if self.channels not in (1, 3) or self.height == 0 or self.width == 0:
                _fail(path, f"bad raw image shape {self.height}x{self.width}x{self.channels}")
        elif self.kind == ENCODED and encoding in ENCODINGS:
            self.encoding = ENCODINGS[encoding]
        else:
            _fail(path, f"unknown sample kind {self.kind} / encoding {encoding}")
        offsets = _align64(HEADER_LEN + self.data_len)
        labels = _align64(offsets + 8 * (self.n + 1))
        counts = _align64(labels + 4 * self.n)
        if (self.data_pos, self.offsets_pos, self.labels_pos, self.counts_pos) != (
                HEADER_LEN, offsets, labels, counts):
            _fail(path, "section positions do not follow from the header's sizes")
        expected = counts + 4 * self.k
        if size != expected:
            what = "truncated" if size < expected else "padded"
            _fail(path, f"{what}: expected {expected} bytes, file has {size}")


class LtdFile:
    """One split file (``*.ltd``), memory-mapped; images are read on demand.

    >>> f = LtdFile("data/fmnist-lt/test.ltd")
    >>> len(f), f.labels[:3], f.image(0).shape      # (10000, array([9, 2, 1], dtype=uint32), (28, 28, 1))

    ``labels`` and ``counts`` are read-only uint32 views of the map; ``shape`` is (H, W, C) for
    raw splits and None for encoded ones (``encoding`` is then ``"jpeg"`` or ``"png"``).
    ``verify=True`` also checks the CRC-32 of the whole file (reads all of it).
    """

    def __init__(self, path, verify=False):
        self.path = os.fspath(path)
        self._verify = verify
        self._open()

    def _open(self):
        path = self.path
        size = os.path.getsize(path)
        if size == 0:
            _fail(path, "truncated: empty file")
        mm = np.memmap(path, dtype=np.uint8, mode="r")
        h = _Header(path, bytes(mm[:HEADER_LEN]), size)
        self.header, self.n, self.num_classes = h, h.n, h.k
        self.encoding = h.encoding
        self.shape = (h.height, h.width, h.channels) if h.kind == RAW else None
        self.offsets = mm[h.offsets_pos:h.labels_pos][:8 * (h.n + 1)].view("<u8")
        self.labels = mm[h.labels_pos:h.counts_pos][:4 * h.n].view("<u4")
        self.counts = mm[h.counts_pos:].view("<u4")
        self._data = mm[HEADER_LEN:HEADER_LEN + h.data_len]
        self._check_index()
        if self._verify:
            self._check_crc(mm)

    def _check_index(self):
        h, off = self.header, self.offsets
        if self.n and (off[0] != 0 or off[-1] != h.data_len or (np.diff(off.astype(np.int64)) < 0).any()):
            _fail(self.path, "sample offsets are not increasing from 0 to the data length")
        if self.shape is not None and h.data_len != self.n * int(np.prod(self.shape)):
            _fail(self.path, f"data length {h.data_len} is not {self.n} images of {self.shape}")
        if self.n and int(self.labels.max()) >= self.num_classes:
            _fail(self.path, f"label {int(self.labels.max())} out of range for {self.num_classes} classes")
        if not np.array_equal(np.bincount(self.labels, minlength=self.num_classes), self.counts):
            _fail(self.path, "class counts do not match the labels")

    def _check_crc(self, mm):
        if self.header.version == 1:
            got = zlib.crc32(mm[HEADER_LEN:])
        else:  # the whole file with the checksum field read as zero
            got = zlib.crc32(mm[84:], zlib.crc32(bytes(mm[:80]) + b"\0\0\0\0"))
        if got & 0xFFFFFFFF != self.header.checksum:
            _fail(self.path, f"checksum mismatch: header {self.header.checksum:08x}, data {got:08x}")

    # A memory map does not travel to DataLoader workers started with "spawn": send the path.
    def __getstate__(self):
        return {"path": self.path, "_verify": False}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def __len__(self):
        return self.n

    def len(self):
        """The number of samples (same as ``len(f)``)."""
        return self.n

    def raw_bytes(self, i):
        """The stored bytes of sample ``i``: HWC pixels, or the whole JPEG / PNG file."""
        i = self._index(i)
        return self._data[int(self.offsets[i]):int(self.offsets[i + 1])].tobytes()

    def image(self, i):
        """Sample ``i`` as an (H, W, C) uint8 array, C = 1 or 3 (encoded images: PIL decodes)."""
        i = self._index(i)
        if self.shape is not None:
            size = int(np.prod(self.shape))
            return np.array(self._data[i * size:(i + 1) * size]).reshape(self.shape)
        from PIL import Image  # only encoded splits need PIL

        with Image.open(io.BytesIO(self.raw_bytes(i))) as img:
            if img.mode == "L":
                return np.asarray(img)[:, :, None].copy()
            return np.array(img.convert("RGB"))

    def _index(self, i):
        i = int(i)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"{self.path}: sample {i} out of range for {self.n} samples")
        return i


try:  # a torch Dataset when torch is there, so that DataLoader and samplers take it
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object


class LtDataset(_Base):
    """One split of an lt-data dataset directory: ``ds[i]`` is ``(image, label)``.

    ``image`` is ``transform(HWC uint8 array)`` and ``label`` ``target_transform(int)`` (the
    untransformed values when those are None). ``classes`` are the manifest's class names in
    label order, ``class_counts`` the split's images per class (a list of ints).

    >>> ds = LtDataset("data/fmnist-lt", split="test")
    >>> ds.classes[:2], ds.class_counts[:2]     # (['t-shirt/top', 'trouser'], [1000, 1000])
    >>> torch.utils.data.DataLoader(ds, batch_size=64, num_workers=2)
    """

    def __init__(self, root, split="train", transform=None, target_transform=None):
        self.root = os.fspath(root)
        manifest_path = os.path.join(self.root, "manifest.json")
        try:
            with open(manifest_path, encoding="utf-8") as f:
                self.manifest = json.load(f)
        except json.JSONDecodeError as e:
            _fail(manifest_path, f"not valid JSON: {e}")
        splits = self.manifest.get("splits") or {}
        if split not in splits:
            _fail(manifest_path, f"no split {split!r} (the dataset has {sorted(splits)})")
        info = splits[split]
        self.split = split
        self.file = LtdFile(os.path.join(self.root, info["file"]))
        self.classes = list(self.manifest["class_names"])
        if self.file.num_classes != len(self.classes) or self.file.counts.tolist() != info["counts"]:
            _fail(self.file.path, "class count or per-class counts differ from manifest.json")
        self.class_counts = [int(c) for c in self.file.counts]
        self.transform = transform
        self.target_transform = target_transform

    @property
    def labels(self):
        """The split's labels, a uint32 numpy array."""
        return self.file.labels

    def __len__(self):
        return len(self.file)

    def __getitem__(self, i):
        image, label = self.file.image(i), int(self.file.labels[self.file._index(i)])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def __iter__(self):  # a plain sequence without torch; harmless with it
        for i in range(len(self)):
            yield self[i]
