//! Running the real `lt-data` binary (built by cargo for the tests), checking its output and
//! its one-line errors, and the arguments of a build.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

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
