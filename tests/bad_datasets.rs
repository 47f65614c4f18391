//! Datasets the trainer must refuse before training, through the real `lt-train`: a split header
//! rewritten to another shape (with and without its checksum recomputed), a test split of
//! another image size than the training split, a zero standard deviation, and an augmentation
//! that does not suit the stored images or has no known name. Each is one error line naming the
//! file and the problem, and nothing is written to the run directory.

mod common;

use common::{dataset, lt_train, scratch_dir, stderr, tiny};
use lt_data::format::{Layout, Writer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A copy of the Fashion-MNIST-LT dataset, for one test to damage.
fn copy(name: &str) -> PathBuf {
    let dir = scratch_dir("bad_datasets", name);
    for e in std::fs::read_dir(dataset("bad_datasets")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    dir
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut Value)) {
    let p = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Trains on `dir` and expects one `lt-train:` error line with every needle, and no run dir.
fn refused(dir: &Path, needles: &[&str]) {
    let out = dir.with_extension("run");
    let o = lt_train(&tiny(dir, &out, 1));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("lt-train: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {err}");
    }
    assert!(!out.exists(), "{} written", out.display());
}

/// Rewrites train.ltd's shape fields to 1x784x1; `reseal` recomputes the header checksum too.
fn rewrite_shape(dir: &Path, reseal: bool) {
    let p = dir.join("train.ltd");
    let mut b = std::fs::read(&p).unwrap();
    b[28..32].copy_from_slice(&1u32.to_le_bytes());
    b[32..36].copy_from_slice(&784u32.to_le_bytes());
    if reseal {
        let crc = lt_data::format::file_checksum(&b);
        b[80..84].copy_from_slice(&crc.to_le_bytes());
        edit_manifest(dir, |m| {
            m["splits"]["train"]["checksum"] = format!("{crc:08x}").into();
        });
    }
    std::fs::write(&p, b).unwrap();
}

#[test]
fn a_split_header_rewritten_to_another_shape_is_refused() {
    for (name, reseal) in [("reshaped", false), ("reshaped-resealed", true)] {
        let d = copy(name);
        rewrite_shape(&d, reseal);
        refused(
            &d,
            &[
                "train.ltd",
                "header says raw 1x784x1, the manifest raw 28x28x1",
            ],
        );
    }
}

#[test]
fn a_test_split_of_another_image_size_is_refused() {
    let d = copy("test32");
    let p = d.join("test.ltd");
    std::fs::remove_file(&p).unwrap();
    let layout = Layout::Raw {
        height: 32,
        width: 32,
        channels: 1,
    };
    let mut w = Writer::create(&p, layout, 10).unwrap();
    for c in 0..10 {
        w.push(c, &[c as u8 * 20; 32 * 32]).unwrap();
    }
    let crc = w.finish().unwrap();
    edit_manifest(&d, |m| {
        let t = &mut m["splits"]["test"];
        t["checksum"] = format!("{crc:08x}").into();
        t["total"] = 10.into();
        t["counts"] = serde_json::json!(vec![1; 10]);
        t["shape"] = serde_json::json!([32, 32, 1]);
    });
    refused(
        &d,
        &[
            "test.ltd",
            "test split holds raw 32x32x1, the train split raw 28x28x1",
        ],
    );
}

#[test]
fn a_zero_std_and_an_unsuitable_augmentation_are_refused() {
    let d = copy("std0");
    edit_manifest(&d, |m| m["std"] = serde_json::json!([0.0]));
    refused(&d, &["manifest.json", "std 0 is not a positive number"]);
    let d = copy("imagenet28");
    edit_manifest(&d, |m| m["augment"] = "imagenet".into());
    refused(
        &d,
        &[
            "manifest.json",
            "augment 'imagenet' crops 224x224 but the images are 28x28",
        ],
    );
}

#[test]
fn an_unknown_augmentation_name_in_the_manifest_is_refused() {
    let d = copy("autoaugment");
    edit_manifest(&d, |m| m["augment"] = "autoaugment".into());
    refused(
        &d,
        &[
            "manifest.json",
            "unknown augmentation \"autoaugment\" (known: cifar, imagenet)",
        ],
    );
}
