//! Requests that cannot be met and what `lt-data` prints, through the real binary: an
//! imbalance factor that empties classes, a batch larger than the split, OS errors named once,
//! and the bench's `images/s` line printed once.

mod common;

use common::{build_args, fails, idx_source, ok, run, s, strs};
use std::path::Path;
use std::process::Output;

/// `lt-data build` of the IDX source `src` as MNIST into `out` at imbalance factor `factor`.
fn build_mnist(src: &Path, out: &Path, factor: &str) -> Output {
    run(&strs(&build_args(
        "mnist",
        src,
        out,
        &["--imbalance", factor],
    )))
}

#[test]
fn an_imbalance_that_empties_classes_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let src = idx_source(t.path(), 30, 2);
    let out = t.path().join("out");
    for factor in ["1e308", "31"] {
        fails(
            &strs(&build_args("mnist", &src, &out, &["--imbalance", factor])),
            &["--imbalance", "with no training image", "can be at most 30"],
        );
        assert!(!out.exists());
    }
    // The largest factor that keeps an image in every class builds.
    ok(
        &build_mnist(&src, &out, "30"),
        "build at the largest factor",
    );
}

#[test]
fn bench_prints_images_per_second_once_and_refuses_a_batch_larger_than_the_split() {
    let t = tempfile::tempdir().unwrap();
    let src = idx_source(t.path(), 30, 2);
    let out = t.path().join("out");
    ok(&build_mnist(&src, &out, "3"), "build");
    let o = run(&["bench", s(&out), "--threads", "1", "--batch", "16"]);
    ok(&o, "bench");
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("images/s")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(text.trim_end().ends_with(lines[0]), "{text}");
    fails(
        &["bench", s(&out), "--batch", "1000000000"],
        &["train.ltd", "--batch 1000000000 exceeds the"],
    );
}

#[test]
fn an_os_error_is_named_once() {
    let t = tempfile::tempdir().unwrap();
    for (args, msg) in [
        (
            vec!["verify", "/nonexistent/data"],
            "No such file or directory",
        ),
        (
            vec!["inspect", "--split-file", s(t.path())],
            "Is a directory",
        ),
    ] {
        let line = fails(&args, &[msg]);
        assert_eq!(line.matches(msg).count(), 1, "{line}");
    }
}
