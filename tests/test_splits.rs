//! The shifted test splits of SADE's test-agnostic protocol (`lt-data build --test-splits`),
//! through the real binary on the real Fashion-MNIST (1000 test images per class): per-class
//! counts by the exp profile int(1000 * (1/IF)^(c/9)) forward and reversed backward, every
//! image a test image with its label, the selection fixed by the seed, `verify`, `inspect` and
//! `Dataset::open` accepting them (and refusing counts that do not match the name), and bad
//! requests refused in one line with nothing written.

mod common;

use common::{
    build_args, counts, fails, idx, json, manifest, nothing_left, ok, run, s, scratch_dir, stdout,
    strs, write_jpeg, FASHION_MNIST,
};
use lt_data::dataset::Dataset;
use lt_data::format::Reader;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const NAME: &str = "test_splits";
const IMBALANCES: [u32; 5] = [2, 5, 10, 25, 50];

/// int(n * (1/IF)^(c/(K-1))), written out here apart from the crate's profile code.
fn exp_counts(n: usize, k: usize, imbalance: u32) -> Vec<u64> {
    let ratio = 1.0 / imbalance as f64;
    (0..k)
        .map(|c| (n as f64 * ratio.powf(c as f64 / (k as f64 - 1.0))) as u64)
        .collect()
}

/// Fashion-MNIST-LT (IF 100) with the default shifted test splits, plus `extra` flags, in
/// `sub` of this test's scratch directory; the dataset's path.
fn build(sub: &str, extra: &[&str]) -> PathBuf {
    assert!(
        Path::new(FASHION_MNIST)
            .join("t10k-labels-idx1-ubyte.gz")
            .exists(),
        "{FASHION_MNIST} missing: run scripts/setup.sh (Debian's dataset-fashion-mnist)"
    );
    let out = scratch_dir(NAME, sub).join("fmnist");
    let flags = [&["--imbalance", "100", "--test-splits"], extra].concat();
    let args = build_args("fashion-mnist", Path::new(FASHION_MNIST), &out, &flags);
    ok(&run(&strs(&args)), "build --test-splits");
    out
}

#[test]
fn counts_follow_the_profile_forward_and_reversed_backward() {
    let out = build("counts", &[]);
    let m = manifest(&out);
    let splits = m["splits"].as_object().unwrap();
    assert_eq!(splits.len(), 12, "train, test and 10 shifted: {splits:?}");
    // Worked out with Python's floats: int(1000 * 0.02 ** (c / 9.0)) and 0.5 for IF 2.
    let literal = [
        (50, [1000, 647, 419, 271, 175, 113, 73, 47, 30, 20]),
        (2, [1000, 925, 857, 793, 734, 680, 629, 583, 540, 500]),
    ];
    for (imb, want) in literal {
        assert_eq!(exp_counts(1000, 10, imb), want, "IF {imb}");
    }
    for imb in IMBALANCES {
        let fwd = counts(&m["splits"][format!("test-fwd-{imb}")]["counts"]);
        assert_eq!(fwd, exp_counts(1000, 10, imb), "test-fwd-{imb}");
        let mut bwd = counts(&m["splits"][format!("test-bwd-{imb}")]["counts"]);
        bwd.reverse();
        assert_eq!(bwd, fwd, "test-bwd-{imb} is not test-fwd-{imb} reversed");
        let file = &m["splits"][format!("test-bwd-{imb}")]["file"];
        assert_eq!(file.as_str(), Some(format!("test-bwd-{imb}.ltd").as_str()));
    }
    assert_eq!(counts(&m["splits"]["test"]["counts"]), [1000; 10]);
    // Totals of SADE's five shifts over 1000 per class.
    let totals: Vec<u64> = IMBALANCES
        .iter()
        .map(|i| {
            m["splits"][format!("test-fwd-{i}")]["total"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(totals, [7241, 5081, 4084, 3229, 2795]);

    let v = stdout(&["verify", s(&out)]);
    assert!(v.contains("69746 samples, checksums match"), "{v}");
    let r = json(&["inspect", s(&out), "--json"]);
    assert_eq!(r["splits"]["test-bwd-25"]["total"], 3229);
    let text = stdout(&["inspect", s(&out)]);
    assert!(text.contains("test-fwd-50 2795 images (raw)"), "{text}");
}

/// (label, pixels) -> how many test images have them.
fn multiset(r: &Reader) -> HashMap<(u32, Vec<u8>), usize> {
    let mut m = HashMap::new();
    for i in 0..r.len() {
        *m.entry((r.labels()[i], r.sample(i).to_vec())).or_insert(0) += 1;
    }
    m
}

#[test]
fn every_image_is_a_test_image_with_its_label_and_splits_open_like_test() {
    let out = build("pixels", &[]);
    let d = Dataset::open(&out).unwrap();
    let test = multiset(d.split("test").unwrap());
    for dir in ["fwd", "bwd"] {
        for imb in IMBALANCES {
            let name = format!("test-{dir}-{imb}");
            let r = d.split(&name).unwrap();
            assert_eq!(r.layout(), d.split("test").unwrap().layout(), "{name}");
            let mut left = test.clone();
            for i in 0..r.len() {
                let key = (r.labels()[i], r.sample(i).to_vec());
                let n = left.get_mut(&key).unwrap_or_else(|| {
                    panic!("{name}: image {i} (label {}) is no test image", key.0)
                });
                assert!(
                    *n > 0,
                    "{name}: image {i} kept more often than the test set has it"
                );
                *n -= 1;
            }
        }
    }
    // Class blocks in label order, as the training split.
    let r = d.split("test-bwd-10").unwrap();
    assert!(r.labels().windows(2).all(|w| w[0] <= w[1]));
}

/// Every split file of a dataset, by name.
fn files(dir: &Path) -> HashMap<String, Vec<u8>> {
    let m = manifest(dir);
    let splits = m["splits"].as_object().unwrap();
    splits
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                std::fs::read(dir.join(v["file"].as_str().unwrap())).unwrap(),
            )
        })
        .collect()
}

#[test]
fn selection_is_fixed_by_the_seed_and_milder_splits_hold_steeper_ones() {
    let a = files(&build("seed-a", &[]));
    assert_eq!(
        a,
        files(&build("seed-b", &[])),
        "same seed, different files"
    );
    let other = build("seed-c", &["--seed", "1"]);
    let c = files(&other);
    for imb in [2, 5, 10] {
        let name = format!("test-fwd-{imb}");
        assert_ne!(a[&name], c[&name], "{name}: seed 1 picked what seed 0 did");
    }
    // One permutation per class for every shift: IF 50's images are among IF 2's.
    let d = Dataset::open(&other).unwrap();
    let mild = multiset(d.split("test-bwd-2").unwrap());
    let steep = multiset(d.split("test-bwd-50").unwrap());
    for (key, n) in steep {
        assert!(mild.get(&key).is_some_and(|&m| m >= n), "label {}", key.0);
    }
}

#[test]
fn bad_requests_are_one_line_and_write_nothing() {
    let parent = scratch_dir(NAME, "bad");
    let out = parent.join("fmnist");
    let src = Path::new(FASHION_MNIST);
    let cases: [(&[&str], &[&str]); 7] = [
        (
            &["--test-splits", "0"],
            &["'0'", "--test-splits", "whole imbalance factors >= 1"],
        ),
        (
            &["--test-splits", "0.5"],
            &["'0.5'", "whole imbalance factors >= 1"],
        ),
        (&["--test-splits", "2,x"], &["'x'", "--test-splits"]),
        (
            &["--test-splits", "5", "--test-directions", "up"],
            &["'up'", "fwd, bwd"],
        ),
        (&["--test-directions", "bwd"], &["--test-splits"]),
        (
            &["--test-splits", "5000"],
            &["--test-splits 5000", "at most 1000"],
        ),
        (&["--test-splits", "5,10,5"], &["test-fwd-5 twice"]),
    ];
    for (extra, needles) in cases {
        let args = build_args("fashion-mnist", src, &out, extra);
        fails(&strs(&args), needles);
        nothing_left(&parent, &out);
    }
    // A failed rebuild leaves the dataset that was there as it was.
    let args = build_args("fashion-mnist", src, &out, &["--test-splits", "3"]);
    ok(&run(&strs(&args)), "build");
    let before = files(&out);
    let args = build_args("fashion-mnist", src, &out, &["--test-splits", "2000"]);
    fails(&strs(&args), &["at most 1000"]);
    assert_eq!(files(&out), before);
    stdout(&["verify", s(&out)]);
}

/// An IDX source whose test split is not balanced: 95 test images, classes 0-4 ten each and
/// classes 5-9 nine each.
fn unbalanced_source(dir: &Path) -> PathBuf {
    let src = dir.join("idx");
    std::fs::create_dir_all(&src).unwrap();
    for (prefix, n) in [("train", 100u32), ("t10k", 95)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 7 % 253) as u8).collect();
        let file = |kind: &str, d: u8| src.join(format!("{prefix}-{kind}-idx{d}-ubyte"));
        std::fs::write(file("images", 3), idx(&[n, 4, 4], &pixels)).unwrap();
        std::fs::write(file("labels", 1), idx(&[n], &labels)).unwrap();
    }
    src
}

#[test]
fn an_unbalanced_test_split_is_refused() {
    let parent = scratch_dir(NAME, "unbalanced");
    let src = unbalanced_source(&parent);
    let out = parent.join("ds");
    let extra = ["--imbalance", "2", "--test-splits", "2"];
    let args = build_args("mnist", &src, &out, &extra);
    fails(
        &strs(&args),
        &["balanced test split", "class 5 has 9 test images"],
    );
    nothing_left(&parent, &out);
}

#[test]
fn verify_refuses_a_shifted_split_whose_counts_differ_from_its_name() {
    let out = build("tampered", &["--test-directions", "fwd"]);
    let p = out.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let splits = m["splits"].as_object_mut().unwrap();
    assert!(
        !splits.contains_key("test-bwd-2"),
        "--test-directions fwd wrote backward splits"
    );
    // The IF 50 file listed under the IF 25 name: file and header agree, the name does not.
    let fifty = splits.remove("test-fwd-50").unwrap();
    splits.insert("test-fwd-25".into(), fifty);
    std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    fails(
        &["verify", s(&out)],
        &[
            "manifest.json",
            "test-fwd-25",
            "647 images of class 1",
            "gives 699",
        ],
    );
    assert!(Dataset::open(&out).is_err());
}

/// An ImageNet-LT-style tree of 3 classes (4 training and 4 test JPEGs each) with its two
/// lists in `dir`, the first test image of class 1 corrupt when `broken`: (root, train list,
/// test list).
fn jpeg_tree(dir: &Path, broken: bool) -> (PathBuf, PathBuf, PathBuf) {
    let root = dir.join("tree");
    let (mut train, mut test) = (String::new(), String::new());
    for c in 0..3u32 {
        for i in 0..4u32 {
            let rel = format!("train/c{c}/{i}.JPEG");
            write_jpeg(&root.join(&rel), 48, 40, c * 10 + i);
            train += &format!("{rel} {c}\n");
            let rel = format!("val/c{c}/{i}.JPEG");
            write_jpeg(&root.join(&rel), 40, 48, c * 10 + i + 5);
            test += &format!("{rel} {c}\n");
        }
    }
    if broken {
        let garbage: Vec<u8> = [0xff, 0xd8, 0xff, 0xe0].into_iter().chain(0..200).collect();
        std::fs::write(root.join("val/c1/0.JPEG"), garbage).unwrap();
    }
    let (tl, vl) = (dir.join("train.txt"), dir.join("test.txt"));
    std::fs::write(&tl, train).unwrap();
    std::fs::write(&vl, test).unwrap();
    (root, tl, vl)
}

#[test]
fn jpeg_splits_are_shifted_too_but_not_after_skipping_test_images() {
    let parent = scratch_dir(NAME, "jpeg");
    let (root, tl, vl) = jpeg_tree(&parent, false);
    let out = parent.join("ds");
    let lists = ["--split-file", s(&tl), "--test-file", s(&vl)];
    let extra = [&lists[..], &["--test-splits", "4"]].concat();
    ok(
        &run(&strs(&build_args("imagenet-lt", &root, &out, &extra))),
        "build",
    );
    let m = manifest(&out);
    // int(4 * 0.25^(c/2)) = 4, 2, 1.
    assert_eq!(counts(&m["splits"]["test-fwd-4"]["counts"]), [4, 2, 1]);
    assert_eq!(counts(&m["splits"]["test-bwd-4"]["counts"]), [1, 2, 4]);
    assert_eq!(m["splits"]["test-bwd-4"]["storage"], "jpeg");
    stdout(&["verify", s(&out)]);

    let bad_parent = scratch_dir(NAME, "jpeg-broken");
    let (root, tl, vl) = jpeg_tree(&bad_parent, true);
    let out = bad_parent.join("ds");
    let lists = ["--split-file", s(&tl), "--test-file", s(&vl), "--skip-bad"];
    let extra = [&lists[..], &["--test-splits", "4"]].concat();
    let args = build_args("imagenet-lt", &root, &out, &extra);
    fails(
        &strs(&args),
        &[
            "--test-splits",
            "1 test images failed to decode",
            "--skip-bad",
        ],
    );
    nothing_left(&bad_parent, &out);
}
