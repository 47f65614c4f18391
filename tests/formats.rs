//! `lt-data` on sources and split files in their real formats, through the real binary: the real
//! Fashion-MNIST, CIFAR-10 python (pickled by numpy itself) and binary files, JPEG trees
//! with and without split lists, the official Places-LT list, and damaged inputs, each of
//! which must give one error line naming the file, a non-zero exit, and no usable output.

mod common;

use common::{
    build_args, counts, crc, fails, json, manifest, nothing_left, python, python_script, root, s,
    stdout, strs, write_jpeg, NAMES10,
};
use lt_data::format::{Reader, HEADER_LEN};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The exp profile as LDAM-DRW computes it: int(n_max * (1/IF)^(c/(K-1))).
fn exp_counts(n_max: usize, k: usize, imbalance: f64) -> Vec<u64> {
    (0..k)
        .map(|c| (n_max as f64 * (1.0 / imbalance).powf(c as f64 / (k as f64 - 1.0))) as u64)
        .collect()
}

/// The documented numpy reader, `docs/read_ltd.py DIR ARGS`.
fn read_ltd(dir: &Path, args: &[&str]) -> Output {
    Command::new(python())
        .arg(root().join("docs/read_ltd.py"))
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// `read_ltd DIR --samples LIST`, which must succeed; its JSON report.
fn read_ltd_samples(dir: &Path, list: &str) -> Value {
    let o = read_ltd(dir, &["--samples", list]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

// ---------------------------------------------------------------- Fashion-MNIST (real data)

const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

fn build_fmnist(dir: &Path) -> PathBuf {
    assert!(
        Path::new(FMNIST)
            .join("train-images-idx3-ubyte.gz")
            .exists(),
        "{FMNIST} missing: run scripts/setup.sh (Debian's dataset-fashion-mnist)"
    );
    let out = dir.join("fmnist-lt");
    stdout(&[
        "build",
        "--dataset",
        "fashion-mnist",
        "--imbalance",
        "100",
        "--compat",
        "ldam",
        "--out",
        s(&out),
        "-q",
    ]);
    out
}

#[test]
fn fashion_mnist_lt_counts_test_split_and_verify() {
    let t = tempfile::tempdir().unwrap();
    let out = build_fmnist(t.path());
    let r = json(&["inspect", s(&out), "--json"]);
    let want = [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60];
    assert_eq!(counts(&r["counts"]), want);
    assert_eq!(exp_counts(6000, 10, 100.0), want);
    assert_eq!(r["total"], 14886);
    assert_eq!(r["classes"], 10);
    assert_eq!(r["imbalance"].as_f64(), Some(100.0));
    assert_eq!(
        (r["many"].as_u64(), r["medium"].as_u64(), r["few"].as_u64()),
        (Some(3), Some(4), Some(3))
    );
    assert_eq!(r["splits"]["test"]["total"], 10000);
    assert_eq!(counts(&r["splits"]["test"]["counts"]), vec![1000; 10]);
    assert_eq!(r["class_names"][9], "ankle boot");

    let ok = stdout(&["verify", s(&out)]);
    assert!(ok.contains("24886 samples"), "{ok}");

    // The text report and the chart.
    let plot = t.path().join("counts.png");
    let text = stdout(&["inspect", s(&out), "--plot", s(&plot)]);
    assert!(
        text.contains("total      14886") && text.contains("test"),
        "{text}"
    );
    let png = image::open(&plot).unwrap().to_rgb8();
    assert!(png.width() > 100 && png.height() > 100);
    assert!(
        png.pixels().any(|p| *p == lt_data::plot::FEW),
        "few-shot bars are drawn"
    );

    // The test split is t10k in file order: its pixels are the source's.
    let src = lt_data::source::idx::read(Path::new(FMNIST)).unwrap();
    let test = Reader::open(&out.join("test.ltd")).unwrap();
    for i in [0, 1, 4321, 9999] {
        let lt_data::source::Pixels::Raw { data, .. } = &src.test[i].pixels else {
            panic!()
        };
        assert_eq!(test.sample(i), data.as_slice(), "test sample {i}");
        assert_eq!(test.labels()[i], src.test[i].label);
    }
}

#[test]
fn numpy_reader_of_the_docs_reproduces_labels_counts_and_pixels() {
    let t = tempfile::tempdir().unwrap();
    let out = build_fmnist(t.path());
    let idx = [0usize, 1, 777, 14885];
    let list = idx
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let py = read_ltd_samples(&out, &list);
    for name in ["train", "test"] {
        let r = Reader::open(&out.join(format!("{name}.ltd"))).unwrap();
        let p = &py["splits"][name];
        assert_eq!(p["n"].as_u64(), Some(r.len() as u64));
        assert_eq!(p["images_shape"], serde_json::json!([r.len(), 28, 28, 1]));
        assert_eq!(
            counts(&p["counts"]),
            r.counts().iter().map(|&c| c as u64).collect::<Vec<_>>()
        );
        let labels: Vec<u32> = p["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(labels, r.labels());
        for &i in idx.iter().filter(|&&i| i < r.len()) {
            let hex: String = r.sample(i).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                p["samples"][i.to_string()].as_str(),
                Some(hex.as_str()),
                "{name} sample {i}"
            );
        }
    }
    assert_eq!(py["class_names"][0], "t-shirt/top");

    // The reader checks the checksum too (zlib.crc32 of bytes 128..end).
    let f = out.join("train.ltd");
    let mut b = std::fs::read(&f).unwrap();
    b[HEADER_LEN as usize + 1000] ^= 0x55;
    std::fs::write(&f, b).unwrap();
    let o = read_ltd(&out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("train.ltd") && err.contains("checksum mismatch"),
        "{err}"
    );
}

#[test]
fn places_lt_split_list_statistics() {
    let list = root().join("../shared/splits/Places_LT_train.txt");
    assert!(list.exists(), "{} missing", list.display());
    let r = json(&["inspect", "--split-file", s(&list), "--json"]);
    assert_eq!(r["total"], 62500);
    assert_eq!(r["classes"], 365);
    assert_eq!(r["max"], 4980);
    assert_eq!(r["min"], 5);
    assert_eq!(r["imbalance"].as_f64(), Some(996.0));
    assert_eq!(counts(&r["counts"]).iter().sum::<u64>(), 62500);
    let text = stdout(&["inspect", "--split-file", s(&list)]);
    assert!(
        text.contains("classes    365") && text.contains("max / min  4980 / 5"),
        "{text}"
    );
}

// ---------------------------------------------------------------- CIFAR-10, both formats

/// Training images per class and test images per class in the small CIFAR trees.
const PER_CLASS: usize = 50;
const TEST_PER_CLASS: usize = 3;

fn label10(i: usize) -> u32 {
    // A permutation of the classes every ten images: 50 of each in 500 images.
    ((i * 3 + 1) % 10) as u32
}

/// Image `i` as CIFAR stores it (three 32x32 planes); its first two red bytes encode `i`.
fn chw(i: usize) -> Vec<u8> {
    let mut v: Vec<u8> = (0..3072)
        .map(|j| ((i * 7 + j * 13 + j / 1024 * 50) % 256) as u8)
        .collect();
    v[0] = (i % 256) as u8;
    v[1] = (i / 256) as u8;
    v
}

fn hwc(chw: &[u8]) -> Vec<u8> {
    (0..1024)
        .flat_map(|p| (0..3).map(move |c| chw[c * 1024 + p]))
        .collect()
}

/// Which source image a stored 32x32x3 sample is (see `chw`).
fn image_id(sample: &[u8]) -> usize {
    sample[0] as usize + 256 * sample[3] as usize
}

/// The binary version, in `parent/cifar-10-batches-bin`; returns that directory.
fn write_cifar10_bin(parent: &Path) -> PathBuf {
    let dir = parent.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("batches.meta.txt"),
        NAMES10.replace(' ', "\n") + "\n\n",
    )
    .unwrap();
    let n = 10 * PER_CLASS;
    for b in 0..6 {
        let (name, range) = if b < 5 {
            (
                format!("data_batch_{}.bin", b + 1),
                b * n / 5..(b + 1) * n / 5,
            )
        } else {
            ("test_batch.bin".to_string(), n..n + 10 * TEST_PER_CLASS)
        };
        let mut bytes = Vec::new();
        for i in range {
            bytes.push(label10(i) as u8);
            bytes.extend(chw(i));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// The python version written by Python's pickle and numpy itself, as the real files are
/// read in Python 3 (`encoding='bytes'`: byte-string keys).
fn write_cifar10_python(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let script = format!(
        r#"
import pickle, sys, numpy as np
d, per, test_per = sys.argv[1], {PER_CLASS}, {TEST_PER_CLASS}
def chw(i):
    j = np.arange(3072)
    v = ((i * 7 + j * 13 + j // 1024 * 50) % 256).astype(np.uint8)
    v[0], v[1] = i % 256, i // 256
    return v
def batch(ids, proto):
    data = np.stack([chw(i) for i in ids])
    b = {{b"batch_label": b"x", b"labels": [(i * 3 + 1) % 10 for i in ids], b"data": data,
         b"filenames": [b"img_%d.png" % i for i in ids]}}
    return pickle.dumps(b, protocol=proto)
n = 10 * per
for b in range(5):
    open(f"{{d}}/data_batch_{{b + 1}}", "wb").write(batch(range(b * n // 5, (b + 1) * n // 5), 2 if b % 2 else 4))
open(f"{{d}}/test_batch", "wb").write(batch(range(n, n + 10 * test_per), 2))
meta = {{b"label_names": [x.encode() for x in "{NAMES10}".split()], b"num_cases_per_batch": 10000}}
open(f"{{d}}/batches.meta", "wb").write(pickle.dumps(meta, protocol=2))
"#
    );
    python_script(&script, &[dir]);
}

/// Every stored sample is its source image, transposed to HWC, with its source label.
/// Returns the source ids of the training split in stored order.
fn check_cifar_split(path: &Path, first: usize, total: usize) -> Vec<usize> {
    let r = Reader::open(path).unwrap();
    assert_eq!(
        r.layout(),
        lt_data::format::Layout::Raw {
            height: 32,
            width: 32,
            channels: 3
        }
    );
    let mut ids = Vec::new();
    for i in 0..r.len() {
        let id = image_id(r.sample(i));
        assert!(
            (first..first + total).contains(&id),
            "{}: sample {i} is image {id}",
            path.display()
        );
        assert_eq!(
            r.sample(i),
            hwc(&chw(id)).as_slice(),
            "pixels of image {id}"
        );
        assert_eq!(r.labels()[i], label10(id), "label of image {id}");
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "an image stored twice");
    ids
}

#[test]
fn cifar10_python_format_ldam_selection_matches_numpy() {
    let t = tempfile::tempdir().unwrap();
    write_cifar10_python(&t.path().join("cifar-10-batches-py"));
    let out = t.path().join("c10");
    stdout(&strs(&build_args(
        "cifar10",
        t.path(),
        &out,
        &["--imbalance", "10", "--compat", "ldam"],
    )));
    let r = json(&["inspect", s(&out), "--json"]);
    let want = [50, 38, 29, 23, 17, 13, 10, 8, 6, 5];
    assert_eq!(exp_counts(PER_CLASS, 10, 10.0), want);
    assert_eq!(counts(&r["counts"]), want);
    assert_eq!(
        counts(&r["splits"]["test"]["counts"]),
        vec![TEST_PER_CLASS as u64; 10]
    );
    assert_eq!(r["class_names"][3], "cat");
    stdout(&["verify", s(&out)]);

    let ids = check_cifar_split(&out.join("train.ltd"), 0, 10 * PER_CLASS);
    check_cifar_split(&out.join("test.ltd"), 10 * PER_CLASS, 10 * TEST_PER_CLASS);
    // LDAM-DRW's own selection, computed by numpy.
    let script = format!(
        r#"
import numpy as np
labels = np.array([(i * 3 + 1) % 10 for i in range({n})])
np.random.seed(0)
keep = []
for c, n_c in enumerate({want:?}):
    idx = np.where(labels == c)[0]
    np.random.shuffle(idx)
    keep += idx[:n_c].tolist()
print(" ".join(map(str, keep)))
"#,
        n = 10 * PER_CLASS
    );
    let numpy: Vec<usize> = python_script(&script, &[])
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(
        ids, numpy,
        "stored training images differ from numpy's selection"
    );
}

#[test]
fn cifar10_binary_format_with_exp_and_step_profiles() {
    let t = tempfile::tempdir().unwrap();
    let src = write_cifar10_bin(t.path());
    let out = t.path().join("c10");
    for (imb, profile) in [("10", "exp"), ("20", "exp"), ("10", "step")] {
        stdout(&strs(&build_args(
            "cifar10",
            &src,
            &out,
            &["--imbalance", imb, "--profile", profile, "--seed", "3"],
        )));
        let r = json(&["inspect", s(&out), "--json"]);
        let f: f64 = imb.parse().unwrap();
        let want = match profile {
            "exp" => exp_counts(PER_CLASS, 10, f),
            _ => (0..10)
                .map(|c| {
                    if c < 5 {
                        PER_CLASS as u64
                    } else {
                        (PER_CLASS as f64 / f) as u64
                    }
                })
                .collect(),
        };
        assert_eq!(counts(&r["counts"]), want, "{profile} {imb}");
        assert_eq!(r["profile"], profile);
        assert_eq!(r["seed"], 3);
        stdout(&["verify", s(&out)]);
        let ids = check_cifar_split(&out.join("train.ltd"), 0, 10 * PER_CLASS);
        assert_eq!(ids.len() as u64, want.iter().sum::<u64>());
    }
    let m = manifest(&out);
    assert!(
        m["source_checksums"]["data_batch_3.bin"].is_string(),
        "{}",
        m["source_checksums"]
    );
    assert_eq!(m["groups"][0], "many");
    assert_eq!(m["groups"][9], "few");
}

// ---------------------------------------------------------------- JPEG trees

/// root/train/{cat,dog,fox}/ with 14, 10 and 6 JPEGs of assorted sizes, root/test/ with 2 each.
fn write_tree(root: &Path) -> Vec<usize> {
    let per = vec![14, 10, 6];
    for (split, n) in [("train", per.clone()), ("test", vec![2, 2, 2])] {
        for (c, name) in ["cat", "dog", "fox"].iter().enumerate() {
            let d = root.join(split).join(name);
            for i in 0..n[c] {
                let (w, h) = (100 + (i as u32 * 17) % 60, 80 + (i as u32 * 11) % 50);
                let file = d.join(format!("{name}_{i:02}.jpg"));
                write_jpeg(&file, w, h, (c * 100 + i) as u32);
            }
        }
    }
    per
}

#[test]
fn folder_tree_resized_and_stored_as_jpeg_or_raw() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    let per = write_tree(&root);
    let out = t.path().join("folder-lt");
    stdout(&strs(&build_args(
        "folder",
        &root,
        &out,
        &["--max-side", "64", "--store", "jpeg", "--quality", "85"],
    )));
    let r = json(&["inspect", s(&out), "--json"]);
    assert_eq!(
        counts(&r["counts"]),
        per.iter().map(|&n| n as u64).collect::<Vec<_>>()
    );
    assert_eq!(r["class_names"], serde_json::json!(["cat", "dog", "fox"]));
    assert_eq!(r["splits"]["train"]["storage"], "jpeg");
    assert_eq!(counts(&r["splits"]["test"]["counts"]), [2, 2, 2]);
    stdout(&["verify", s(&out)]);
    let train = Reader::open(&out.join("train.ltd")).unwrap();
    for i in 0..train.len() {
        let img =
            image::load_from_memory_with_format(train.sample(i), image::ImageFormat::Jpeg).unwrap();
        assert_eq!(
            img.width().max(img.height()),
            64,
            "sample {i}: {}x{}",
            img.width(),
            img.height()
        );
    }
    // The documented numpy reader hands out the same encoded bytes.
    let py = read_ltd_samples(&out, "0,29");
    assert_eq!(py["splits"]["train"]["encoding"], "jpeg");
    for i in [0, 29] {
        let hex: String = train.sample(i).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            py["splits"]["train"]["samples"][i.to_string()].as_str(),
            Some(hex.as_str())
        );
    }
    // First cat image: 100x80 -> 64x51, its gradient kept.
    let first = image::load_from_memory(train.sample(0)).unwrap().to_rgb8();
    assert_eq!(first.dimensions(), (64, 51));
    let (l, r_) = (first.get_pixel(2, 25)[0], first.get_pixel(61, 25)[0]);
    assert!(l < 30 && r_ > 220, "red gradient lost: {l} .. {r_}");

    // An imbalance on a tree sub-samples it with the exp profile.
    stdout(&strs(&build_args(
        "folder",
        &root,
        &out,
        &["--imbalance", "2", "--max-side", "32"],
    )));
    let r = json(&["inspect", s(&out), "--json"]);
    assert_eq!(
        counts(&r["counts"]),
        exp_counts(14, 3, 2.0)
            .iter()
            .zip(&per)
            .map(|(&a, &b)| a.min(b as u64))
            .collect::<Vec<_>>()
    );

    // Raw storage needs one shape: images of one size stored as pixels.
    let same = t.path().join("same");
    for c in ["a", "b"] {
        for i in 0..3 {
            write_jpeg(&same.join(c).join(format!("{i}.jpg")), 96, 72, i);
        }
    }
    let raw = t.path().join("raw");
    stdout(&strs(&build_args(
        "folder",
        &same,
        &raw,
        &["--max-side", "48", "--store", "raw"],
    )));
    let m = manifest(&raw);
    assert_eq!(
        m["splits"]["train"]["shape"],
        serde_json::json!([36, 48, 3])
    );
    assert_eq!(
        Reader::open(&raw.join("train.ltd"))
            .unwrap()
            .sample(0)
            .len(),
        36 * 48 * 3
    );
    // ...and different sizes are refused with a hint.
    let bad = t.path().join("bad-raw");
    fails(
        &strs(&build_args(
            "folder",
            &root.join("train"),
            &bad,
            &["--store", "raw"],
        )),
        &["one image shape", ".jpg"],
    );
    nothing_left(t.path(), &bad);
}

#[test]
fn corrupt_jpeg_stops_the_build_unless_skip_bad() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("tree");
    let per = write_tree(&root);
    let broken = root.join("train/dog/dog_zz_broken.jpg");
    // A JPEG start-of-image marker followed by garbage.
    let mut b = vec![0xff, 0xd8, 0xff, 0xe0];
    b.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
    std::fs::write(&broken, b).unwrap();
    let out = t.path().join("out");
    fails(
        &strs(&build_args("folder", &root, &out, &["--max-side", "64"])),
        &["dog_zz_broken.jpg", "decode"],
    );
    nothing_left(t.path(), &out);

    stdout(&strs(&build_args(
        "folder",
        &root,
        &out,
        &["--max-side", "64", "--skip-bad"],
    )));
    let m = manifest(&out);
    let skipped = m["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("dog_zz_broken.jpg"));
    assert_eq!(skipped[0]["split"], "train");
    assert_eq!(
        counts(&m["splits"]["train"]["counts"]),
        per.iter().map(|&n| n as u64).collect::<Vec<_>>()
    );
    stdout(&["verify", s(&out)]);
}

#[test]
fn imagenet_lt_style_lists_and_a_missing_image() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("imagenet");
    let classes = ["n01440764", "n01443537", "n01484850"];
    let (train_n, test_n) = ([8usize, 4, 2], 2usize);
    let mut train = String::new();
    let mut test = String::new();
    for (c, wnid) in classes.iter().enumerate() {
        for i in 0..train_n[c] {
            let rel = format!("train/{wnid}/{wnid}_{i}.JPEG");
            // The first is larger than the recipe's max side (256).
            let (w, h) = if c + i == 0 { (400, 300) } else { (120, 90) };
            write_jpeg(&root.join(&rel), w, h, (c * 10 + i) as u32);
            train += &format!("{rel} {c}\n");
        }
        for i in 0..test_n {
            let rel = format!("val/{wnid}/ILSVRC2012_val_{c}{i}.JPEG");
            write_jpeg(&root.join(&rel), 90, 120, (c * 10 + i + 5) as u32);
            test += &format!("{rel} {c}\n");
        }
    }
    let (train_list, test_list) = (
        t.path().join("ImageNet_LT_train.txt"),
        t.path().join("ImageNet_LT_test.txt"),
    );
    std::fs::write(&train_list, &train).unwrap();
    std::fs::write(&test_list, &test).unwrap();
    let out = t.path().join("inlt");
    let args = |out: &Path| -> Vec<String> {
        build_args(
            "imagenet-lt",
            &root,
            out,
            &[
                "--split-file",
                s(&train_list),
                "--test-file",
                s(&test_list),
                "--max-side",
                "40",
            ],
        )
    };
    stdout(&strs(&args(&out)));
    let r = json(&["inspect", s(&out), "--json"]);
    assert_eq!(counts(&r["counts"]), [8, 4, 2]);
    assert_eq!(counts(&r["splits"]["test"]["counts"]), [2, 2, 2]);
    assert_eq!(r["class_names"], serde_json::json!(classes));
    assert!(r["profile"].is_null(), "the official list is kept as is");
    stdout(&["verify", s(&out)]);
    let tr = Reader::open(&out.join("train.ltd")).unwrap();
    assert_eq!(
        tr.labels(),
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2],
        "list order kept"
    );
    let img = image::load_from_memory(tr.sample(0)).unwrap();
    assert_eq!((img.width(), img.height()), (40, 30));
    assert_eq!(manifest(&out)["max_side"], 40);
    // Without --max-side the recipe's 256 applies, and the manifest says so.
    let out3 = t.path().join("inlt-recipe");
    let mut a = args(&out3);
    let at = a.iter().position(|x| x == "--max-side").unwrap();
    a.drain(at..at + 2);
    stdout(&strs(&a));
    let tr3 = Reader::open(&out3.join("train.ltd")).unwrap();
    let img = image::load_from_memory(tr3.sample(0)).unwrap();
    assert_eq!((img.width(), img.height()), (256, 192));
    let img = image::load_from_memory(tr3.sample(1)).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (120, 90),
        "smaller images kept"
    );
    assert_eq!(manifest(&out3)["max_side"], 256);

    // The statistics of the list alone agree.
    let st = json(&["inspect", "--split-file", s(&train_list), "--json"]);
    assert_eq!(counts(&st["counts"]), [8, 4, 2]);

    // A list naming a missing image.
    std::fs::write(&train_list, train + "train/n01440764/gone.JPEG 0\n").unwrap();
    let out2 = t.path().join("inlt2");
    let a = args(&out2);
    fails(
        &strs(&a),
        &[
            "1 of 21 listed images are not under",
            "first: ImageNet_LT_train.txt line 15: train/n01440764/gone.JPEG",
            "inlt2.missing.txt",
        ],
    );
    nothing_left(t.path(), &out2);
    // A malformed line.
    std::fs::write(&train_list, "train/n01440764/n01440764_0.JPEG zero\n").unwrap();
    fails(&strs(&a), &["ImageNet_LT_train.txt", "line 1"]);
    nothing_left(t.path(), &out2);
}

// ---------------------------------------------------------------- bad input

fn small_dataset(dir: &Path) -> PathBuf {
    let src = write_cifar10_bin(dir);
    let out = dir.join("good");
    stdout(&strs(&build_args(
        "cifar10",
        &src,
        &out,
        &["--imbalance", "10"],
    )));
    out
}

/// A copy of dataset `good` whose train.ltd went through `damage`.
fn damaged(good: &Path, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let dir = good.with_file_name(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["manifest.json", "train.ltd", "test.ltd"] {
        std::fs::copy(good.join(f), dir.join(f)).unwrap();
    }
    let mut b = std::fs::read(dir.join("train.ltd")).unwrap();
    damage(&mut b);
    std::fs::write(dir.join("train.ltd"), b).unwrap();
    dir
}

fn u64_at(b: &[u8], at: usize) -> usize {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize
}

#[test]
fn damaged_split_files_are_rejected_by_verify_and_inspect() {
    let t = tempfile::tempdir().unwrap();
    let good = small_dataset(t.path());
    stdout(&["verify", s(&good)]);

    let magic = damaged(&good, "magic", |b| b[0] = b'X');
    let version = damaged(&good, "version", |b| b[8] = 9);
    let truncated = damaged(&good, "truncated", |b| b.truncate(b.len() - 100));
    let short = damaged(&good, "short", |b| b.truncate(60));
    // Label of sample 5 set to 12 (10 classes); the checksum is fixed up so only the range check can catch it.
    let label = damaged(&good, "label", |b| {
        let at = u64_at(b, 48) + 4 * 5;
        b[at..at + 4].copy_from_slice(&12u32.to_le_bytes());
        reseal(b);
    });
    // The header rewritten to another shape of the same size (1x1024x3 for 32x32x3), its
    // checksum recomputed: only the manifest can tell.
    let reshaped = damaged(&good, "reshaped", |b| {
        b[28..32].copy_from_slice(&1u32.to_le_bytes());
        b[32..36].copy_from_slice(&1024u32.to_le_bytes());
        reseal(b);
    });
    let flipped = damaged(&good, "flipped", |b| b[HEADER_LEN as usize + 777] ^= 0x01);

    let cases: [(&Path, &[&str]); 7] = [
        (&magic, &["train.ltd", "bad magic"]),
        (&version, &["train.ltd", "version 9"]),
        (
            &reshaped,
            &[
                "train.ltd",
                "header says raw 1x1024x3, the manifest raw 32x32x3",
            ],
        ),
        (&truncated, &["train.ltd", "truncated"]),
        (&short, &["train.ltd", "truncated"]),
        (&label, &["train.ltd", "label 12", "out of range"]),
        (&flipped, &["train.ltd", "checksum mismatch"]),
    ];
    for (dir, needles) in cases {
        fails(&["verify", s(dir)], needles);
        if !needles.contains(&"checksum mismatch") {
            fails(&["inspect", s(dir), "--json"], needles);
        }
        // The documented numpy reader refuses it too, naming the file.
        let o = read_ltd(dir, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.starts_with("read_ltd: ") && err.contains("train.ltd"),
            "{err}"
        );
    }

    // A dataset without its manifest is no dataset.
    let bare = damaged(&good, "bare", |_| {});
    std::fs::remove_file(bare.join("manifest.json")).unwrap();
    fails(&["verify", s(&bare)], &["manifest.json"]);
    fails(
        &["verify", s(&t.path().join("nowhere"))],
        &["nowhere", "manifest.json"],
    );
    fails(
        &["inspect", "--split-file", s(&t.path().join("nolist.txt"))],
        &["nolist.txt"],
    );
}

/// Recomputes a split file's checksum: CRC-32 of the whole file, the checksum field as zeros.
fn reseal(b: &mut [u8]) {
    b[80..84].fill(0);
    let c = crc(b);
    b[80..84].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn checksum_is_zlib_crc32_of_the_file_with_its_own_field_zeroed() {
    let t = tempfile::tempdir().unwrap();
    let good = small_dataset(t.path());
    let mut b = std::fs::read(good.join("train.ltd")).unwrap();
    let stored = u32::from_le_bytes(b[80..84].try_into().unwrap());
    b[80..84].fill(0);
    assert_eq!(crc(&b), stored);
    // The header is covered: one bit of its shape changes the checksum.
    b[28] ^= 1;
    assert_ne!(crc(&b), stored);
    let m = manifest(&good);
    assert_eq!(m["splits"]["train"]["checksum"], format!("{stored:08x}"));
}

#[test]
fn bad_build_requests_fail_cleanly_and_leave_nothing() {
    let t = tempfile::tempdir().unwrap();
    let src = write_cifar10_bin(t.path());
    let out = t.path().join("out");
    let build = |dataset: &str, src: &Path, extra: &[&str]| build_args(dataset, src, &out, extra);
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            build("cifar10", &src, &["--imbalance", "0.5"]),
            vec!["--imbalance", "0.5"],
        ),
        (
            build("cifar10", &src, &["--imbalance", "abc"]),
            vec!["--imbalance", "abc"],
        ),
        (
            build("cifar10", &src, &["--imbalance=-3"]),
            vec!["--imbalance", "-3"],
        ),
        (
            build("cifar11", &src, &[]),
            vec![
                "invalid value 'cifar11' for '--dataset <DATASET>'",
                "[possible values: cifar10,",
            ],
        ),
        (
            build("cifar10", Path::new("/nonexistent/cifar"), &[]),
            vec!["/nonexistent/cifar", "No such file"],
        ),
        (
            build("cifar10", &src.join("test_batch.bin"), &[]),
            vec!["test_batch.bin", "Not a directory"],
        ),
        (
            build("cifar10", &t.path().join("empty"), &[]),
            vec!["empty"],
        ),
        (
            build("imagenet-lt", t.path(), &[]),
            vec!["ImageNet_LT_train.txt", "No such file"],
        ),
        (
            build("cifar10", &src, &["--quality", "0", "--store", "jpeg"]),
            vec!["--quality"],
        ),
    ];
    std::fs::create_dir_all(t.path().join("empty")).unwrap();
    for (args, needles) in cases {
        fails(&strs(&args), &needles);
        nothing_left(t.path(), &out);
    }
    // The data of a damaged source file is named.
    let f = src.join("data_batch_2.bin");
    let b = std::fs::read(&f).unwrap();
    std::fs::write(&f, &b[..b.len() - 7]).unwrap();
    fails(
        &strs(&build("cifar10", &src, &[])),
        &["data_batch_2.bin", "truncated"],
    );
    nothing_left(t.path(), &out);
    // An existing non-dataset directory is not overwritten.
    std::fs::write(&f, &b).unwrap();
    let keep = t.path().join("keep");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("notes.txt"), "mine").unwrap();
    fails(
        &strs(&build_args("cifar10", &src, &keep, &[])),
        &["keep", "not a dataset lt-data wrote", "notes.txt"],
    );
    assert_eq!(
        std::fs::read_to_string(keep.join("notes.txt")).unwrap(),
        "mine"
    );
}
