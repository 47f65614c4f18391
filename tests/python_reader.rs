//! `python/ltdata.py`, the Python reader, on datasets the real `lt-data` built: the same labels
//! and pixels as the Rust reader and as the raw Fashion-MNIST files, JPEG-stored splits decoded
//! as PIL decodes the stored bytes, a torch DataLoader with two workers, and one clear
//! `ValueError` naming the file for a truncated or foreign split file.

mod common;

use common::{build_args, dataset, python_script, root, run, s, scratch, scratch_dir, strs};
use lt_data::format::Reader;
use std::path::{Path, PathBuf};

const NAME: &str = "python_reader";

/// Prepended to every script: `ltdata` importable from `python/` (the first argument).
const PRELUDE: &str = "import sys; sys.path.insert(0, sys.argv[1]); import ltdata\n";

fn py(script: &str, args: &[&Path]) -> String {
    let dir = root().join("python");
    let mut all: Vec<&Path> = vec![&dir];
    all.extend_from_slice(args);
    python_script(&format!("{PRELUDE}{script}"), &all)
}

/// The Fashion-MNIST-LT dataset of this test binary, built by the real `lt-data`.
fn fmnist() -> &'static Path {
    dataset(NAME)
}

/// Little-endian u32s.
fn u32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Every split's labels and images as the Python reader returns them, written by Python to
/// `out/SPLIT.labels` (u32 LE) and `out/SPLIT.pixels` (all images' HWC bytes back to back),
/// equal byte for byte to what the Rust reader holds; plus the dataset's class names and counts.
#[test]
fn same_labels_and_pixels_as_rust() {
    let data = fmnist();
    let out = scratch_dir(NAME, "dump");
    let printed = py(
        r#"
import numpy as np
ds_dir, out = sys.argv[2], sys.argv[3]
for split in ("train", "test"):
    ds = ltdata.LtDataset(ds_dir, split)
    f = ds.file
    assert len(ds) == f.len() == len(f.labels)
    imgs = np.stack([ds[i][0] for i in range(len(ds))])
    labels = np.array([ds[i][1] for i in range(len(ds))], dtype="<u4")
    assert (labels == f.labels).all() and imgs.shape[1:] == (28, 28, 1), imgs.shape
    assert (ds[-1][0] == imgs[-1]).all()
    labels.tofile(f"{out}/{split}.labels")
    imgs.tofile(f"{out}/{split}.pixels")
    print(split, len(ds), ds.class_counts)
print(ds.classes)
"#,
        &[data, &out],
    );
    for split in ["train", "test"] {
        let r = Reader::open(&data.join(format!("{split}.ltd"))).unwrap();
        let labels = std::fs::read(out.join(format!("{split}.labels"))).unwrap();
        assert_eq!(u32s(&labels), r.labels(), "{split} labels");
        let pixels = std::fs::read(out.join(format!("{split}.pixels"))).unwrap();
        assert_eq!(pixels.len(), r.data().len(), "{split} pixel bytes");
        assert!(
            pixels == r.data(),
            "{split}: Python's pixels differ from Rust's"
        );
        let line = format!("{split} {} {:?}", r.len(), r.counts());
        assert!(printed.contains(&line), "{line:?} not in {printed}");
    }
    assert!(printed.contains("'t-shirt/top', 'trouser'"), "{printed}");
}

/// The test split is the raw t10k file in order: the reader's images and labels equal the IDX
/// files themselves (an off-by-one in sample or row offsets would show), and every training
/// image is a distinct training image of the raw file with the same label.
#[test]
fn same_pixels_as_the_raw_idx_files() {
    let printed = py(
        r#"
import gzip, numpy as np
ds_dir, raw = sys.argv[2], sys.argv[3]
def idx(name, off):
    with gzip.open(f"{raw}/{name}", "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
test = ltdata.LtdFile(f"{ds_dir}/test.ltd", verify=True)
want = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)
assert len(test) == len(want) == 10000
assert all((test.image(i) == want[i]).all() for i in range(len(test)))
assert (test.labels == idx("t10k-labels-idx1-ubyte.gz", 8)).all()
train = ltdata.LtdFile(f"{ds_dir}/train.ltd", verify=True)
raw_labels = idx("train-labels-idx1-ubyte.gz", 8)
raw = {img.tobytes(): int(l) for img, l in zip(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784), raw_labels)}
seen = set()
for i in range(len(train)):
    b = train.image(i).tobytes()
    assert raw.get(b) == int(train.labels[i]), i
    seen.add(b)
assert len(seen) == len(train) == 14886, len(seen)
print("ok", len(train), len(test))
"#,
        &[fmnist(), Path::new(common::FASHION_MNIST)],
    );
    assert_eq!(printed.trim(), "ok 14886 10000");
}

/// A dataset stored as JPEG (`--store jpeg`): each image the reader returns equals PIL's
/// decoding of the sample bytes the Rust reader holds, is 28x28x3, and is close to the raw
/// dataset's grey image of the same index (the right sample, not a neighbour).
#[test]
fn jpeg_split_decodes_like_pil() {
    let dir = scratch_dir(NAME, "jpeg");
    let out = dir.join("fmnist-lt-jpeg");
    let args = build_args(
        "fashion-mnist",
        Path::new(common::FASHION_MNIST),
        &out,
        &["--imbalance", "100", "--store", "jpeg"],
    );
    common::ok(&run(&strs(&args)), "lt-data build --store jpeg");
    let r = Reader::open(&out.join("train.ltd")).unwrap();
    // Both ends and both sides of every class boundary.
    let mut picks: Vec<usize> = vec![0, 1, r.len() - 1];
    let mut end = 0;
    for c in r.counts() {
        end += *c as usize;
        picks.extend([end - 1, end.min(r.len() - 1)]);
    }
    let samples: PathBuf = dir.join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    for i in &picks {
        std::fs::write(samples.join(format!("{i}.jpg")), r.sample(*i)).unwrap();
    }
    let printed = py(
        r#"
import os, numpy as np
from PIL import Image
jpeg, raw, samples = sys.argv[2:5]
ds, grey = ltdata.LtDataset(jpeg, "train"), ltdata.LtdFile(f"{raw}/train.ltd")
assert ds.file.encoding == "jpeg" and ds.file.shape is None
n = 0
for name in sorted(os.listdir(samples)):
    i = int(name.split(".")[0])
    img, label = ds[i]
    pil = np.asarray(Image.open(f"{samples}/{name}").convert("RGB"))
    assert img.dtype == np.uint8 and img.shape == (28, 28, 3), img.shape
    assert (img == pil).all(), i
    assert label == grey.labels[i]
    err = np.abs(img.astype(int) - grey.image(i).astype(int)).mean()
    assert err < 6, (i, err)
    n += 1
print("decoded", n)
"#,
        &[&out, fmnist(), &samples],
    );
    let mut uniq = picks.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(printed.trim(), format!("decoded {}", uniq.len()));
}

/// `torch.utils.data.DataLoader` with two worker processes (fork, with a transform; spawn,
/// which pickles the dataset) iterates the whole test split in order.
#[test]
fn dataloader_with_two_workers() {
    let printed = py(
        r#"
import torch
from torch.utils.data import DataLoader, Dataset
ds = ltdata.LtDataset(sys.argv[2], "test", transform=lambda a: torch.from_numpy(a).permute(2, 0, 1).float() / 255)
assert isinstance(ds, Dataset)
for ctx, d in (("fork", ds), ("spawn", ltdata.LtDataset(sys.argv[2], "test"))):
    batches, labels = 0, []
    for x, y in DataLoader(d, batch_size=512, num_workers=2, multiprocessing_context=ctx):
        batches += 1
        labels.append(y)
    assert torch.equal(torch.cat(labels), torch.from_numpy(ds.labels.astype("int64"))), ctx
    print(ctx, batches, tuple(x.shape), x.dtype)
"#,
        &[fmnist()],
    );
    assert_eq!(
        printed.trim(),
        "fork 20 (272, 1, 28, 28) torch.float32\nspawn 20 (272, 28, 28, 1) torch.uint8"
    );
}

/// Without torch (its import blocked) `LtDataset` is a plain sequence of `(image, label)`.
#[test]
fn without_torch_a_plain_sequence() {
    let dir = root().join("python");
    let printed = python_script(
        r#"
import sys; sys.modules["torch"] = None; sys.path.insert(0, sys.argv[1]); import ltdata
ds = ltdata.LtDataset(sys.argv[2], "test", target_transform=lambda y: y * 10)
assert type(ds).__mro__[1] is object and "torch" not in repr(type(ds).__mro__)
pairs = list(ds)
assert len(pairs) == len(ds) == 10000 and pairs[0][0].shape == (28, 28, 1)
print(pairs[0][1], pairs[1][1], pairs[-1][1])
"#,
        &[&dir, fmnist()],
    );
    let r = Reader::open(&fmnist().join("test.ltd")).unwrap();
    let l = r.labels();
    assert_eq!(
        printed.trim(),
        format!("{} {} {}", l[0] * 10, l[1] * 10, l[l.len() - 1] * 10)
    );
}

/// Errors: a truncated split file (through `LtdFile` and `LtDataset`), a file shorter than the
/// header, a foreign file and a missing split each raise one `ValueError` naming the file.
#[test]
fn damaged_files_raise_a_clear_error() {
    let dir = scratch(NAME).join("damaged");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["manifest.json", "train.ltd", "test.ltd"] {
        std::fs::copy(fmnist().join(f), dir.join(f)).unwrap();
    }
    let train = dir.join("train.ltd");
    let len = std::fs::metadata(&train).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&train)
        .unwrap();
    f.set_len(len - 1000).unwrap();
    std::fs::write(dir.join("short.ltd"), b"LTDSPLT\0").unwrap();
    let printed = py(
        r#"
d = sys.argv[2]
for what, f in (("file", lambda: ltdata.LtdFile(f"{d}/train.ltd")),
                ("dataset", lambda: ltdata.LtDataset(d, "train")),
                ("short", lambda: ltdata.LtdFile(f"{d}/short.ltd")),
                ("foreign", lambda: ltdata.LtdFile(f"{d}/manifest.json")),
                ("split", lambda: ltdata.LtDataset(d, "val"))):
    try:
        f()
        print(what, "accepted")
    except ValueError as e:
        print(what, e)
print("test", len(ltdata.LtDataset(d, "test")))
"#,
        &[&dir],
    );
    let d = s(&dir);
    let want = [
        format!(
            "file {d}/train.ltd: truncated: expected {len} bytes, file has {}",
            len - 1000
        ),
        format!("dataset {d}/train.ltd: truncated: expected {len} bytes"),
        format!("short {d}/short.ltd: truncated: 8 bytes, shorter than the 128-byte header"),
        format!("foreign {d}/manifest.json: not an lt-data split file"),
        format!("split {d}/manifest.json: no split 'val' (the dataset has ['test', 'train'])"),
        "test 10000".to_string(),
    ];
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), want.len(), "{printed}");
    for (line, w) in lines.iter().zip(&want) {
        assert!(
            line.starts_with(w.as_str()),
            "{line:?} does not start with {w:?}"
        );
    }
}
