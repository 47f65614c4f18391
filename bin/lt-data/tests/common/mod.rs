//! Shared by the end-to-end tests of `lt-data`: running the real binary, checking its output and
//! its one-line errors, and small sources (IDX files, JPEGs) written on the spot.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project venv's Python (numpy, PIL); scripts/setup.sh creates it. Never skipped.
pub fn python() -> PathBuf {
    let p = workspace().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup.sh", p.display());
    p
}

/// `python -c SCRIPT ARGS` with the venv's Python, which must succeed; returns its stdout.
pub fn python_script(script: &str, args: &[&Path]) -> String {
    let o = Command::new(python())
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// `lt-data ARGS`.
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

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

/// `lt-data ARGS`, which must succeed; returns its stdout.
pub fn stdout(args: &[&str]) -> String {
    let out = run(args);
    ok(&out, &format!("lt-data {args:?}"));
    String::from_utf8(out.stdout).unwrap()
}

/// `lt-data ARGS`, which must succeed; its stdout as JSON.
pub fn json(args: &[&str]) -> Value {
    serde_json::from_str(&stdout(args)).unwrap()
}

/// Runs `lt-data ARGS`, which must fail cleanly (see `fails_out`). Returns the error line.
pub fn fails(args: &[&str], needles: &[&str]) -> String {
    failed(args, &run(args), needles)
}

/// `fails` for an output of `lt-data ARGS` run some other way (`ARGS` only names it).
pub fn failed(args: &[&str], out: &Output, needles: &[&str]) -> String {
    failure(&format!("lt-data {args:?}"), out, needles)
}

/// Asserts a clean failure: exit code 1 or 2 (not a signal, not a panic), no panic message,
/// exactly one stderr line starting `lt-data: ` holding every needle. Returns that line.
pub fn fails_out(out: &Output, needles: &[&str]) -> String {
    failure("lt-data", out, needles)
}

fn failure(what: &str, out: &Output, needles: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c == 1 || c == 2),
        "{what}: {:?}: {err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one error line, got {err:?}"
    );
    assert!(lines[0].starts_with("lt-data: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{what}: {n:?} not in {err:?}");
    }
    lines[0].to_string()
}

/// A failed build must leave neither the output nor a staging directory behind.
pub fn nothing_left(parent: &Path, out: &Path) {
    // Stricter than "nothing verify accepts": nothing at all.
    assert!(!out.exists(), "{} left behind", out.display());
    let stray: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "staging files left: {stray:?}");
}

/// `lt-data build --dataset DATASET --src SRC --out OUT -q` plus `extra` (see `strs`).
pub fn build_args(dataset: &str, src: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "build",
        "--dataset",
        dataset,
        "--src",
        s(src),
        "--out",
        s(out),
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    v.extend(extra.iter().map(|x| x.to_string()));
    v.push("-q".into());
    v
}

pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The manifest of the dataset in `out`.
pub fn manifest(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// A JSON array of counts.
pub fn counts(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

/// The CIFAR-10 class names, in order.
pub const NAMES10: &str = "airplane automobile bird cat deer dog frog horse ship truck";

/// CRC-32 (zlib polynomial), bitwise: independent of the crate under test.
pub fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A JPEG of `w` x `h`: a smooth image with a pattern that differs with `seed`.
pub fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x / 8 + y / 8 + seed * 29) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
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
