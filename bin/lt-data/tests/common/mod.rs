//! Shared by the end-to-end tests of `lt-data`: running the real binary, checking its one-line
//! errors, and small IDX sources written on the spot.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `lt-data ARGS` with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lt-data"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("cannot start lt-data")
}

/// Asserts success; returns stderr.
pub fn ok(out: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what} failed: {err}");
    err
}

/// Asserts a clean failure: exit code 1 or 2 (no signal), exactly one stderr line starting
/// `lt-data: ` holding every needle. Returns that line.
pub fn fails(out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c == 1 || c == 2),
        "{:?}: {err}",
        out.status
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {err:?}");
    assert!(lines[0].starts_with("lt-data: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n:?} not in {err:?}");
    }
    lines[0].to_string()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An unsigned-byte IDX file of the given dimensions.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// An MNIST-style IDX tree in `dir/idx`: 10 classes of `train` training and `test` test images
/// of 4x4 pixels, labels cycling through the classes.
pub fn idx_source(dir: &Path, train: u32, test: u32) -> PathBuf {
    let src = dir.join("idx");
    std::fs::create_dir_all(&src).unwrap();
    for (prefix, per_class) in [("train", train), ("t10k", test)] {
        let n = 10 * per_class;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 31 % 251) as u8).collect();
        let file = |kind: &str, n: u8| src.join(format!("{prefix}-{kind}-idx{n}-ubyte"));
        std::fs::write(file("images", 3), idx(&[n, 4, 4], &pixels)).unwrap();
        std::fs::write(file("labels", 1), idx(&[n], &labels)).unwrap();
    }
    src
}
