//! Running the real `lt-train` binary (built by cargo for the tests) with the plugins cargo built
//! for them, on a real Fashion-MNIST-LT dataset built once per test binary with the real
//! `lt-data`; tiny training runs and one-line error checks.

use super::paths::{plugins_dir, scratch, FASHION_MNIST};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Fashion-MNIST-LT (imbalance 100: 14886 training images), built once per test binary.
pub fn dataset(name: &str) -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| build_dataset(name, &[]))
}

/// Fashion-MNIST-LT built under the test's scratch directory with `extra` `lt-data build`
/// arguments (`--test-splits 2,50`); callers keep it in their own `OnceLock`.
pub fn build_dataset(name: &str, extra: &[&str]) -> PathBuf {
    let out = scratch(name).join("fmnist-lt");
    let res = Command::new(env!("CARGO_BIN_EXE_lt-data"))
        .args([
            "build",
            "--dataset",
            "fashion-mnist",
            "--imbalance",
            "100",
            "-q",
        ])
        .args(extra)
        .args(["--src", FASHION_MNIST, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "lt-data build: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// `lt-train`, whose plugin search path (`LT_PLUGIN_PATH`) is the plugins cargo built for this
/// test, not the caller's.
pub fn lt_train_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lt-train"));
    c.env("LT_PLUGIN_PATH", plugins_dir());
    c
}

/// `lt-train ARGS` (see `lt_train_cmd`).
pub fn lt_train<S: AsRef<OsStr>>(args: &[S]) -> Output {
    lt_train_cmd().args(args).output().unwrap()
}

/// `lt-train --check ARGS` (which does not read the dataset, but a run needs one named).
pub fn check<S: AsRef<OsStr>>(args: &[S]) -> Output {
    lt_train_cmd()
        .args(["--check", "--dataset", "unread"])
        .args(args)
        .output()
        .unwrap()
}

/// Arguments of a tiny run (ResNet-10 on the CPU, two batches of 8 per epoch, stage 1 only)
/// of `epochs` epochs on `data` into `out`.
pub fn tiny(data: &Path, out: &Path, epochs: usize) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--dataset".into(),
        data.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--epochs".into(),
        epochs.to_string(),
    ];
    for a in [
        "--stage2-epochs=0",
        "--threads=1",
        "--device=cpu",
        "--set=loader_threads=1",
        "--set=model=resnet10",
        "--set=stage1.steps_per_epoch=2",
        "--set=stage1.batch_size=8",
    ] {
        v.push(a.into());
    }
    v
}

/// `tiny` plus `extra`.
pub fn tiny_with(data: &Path, out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut v = tiny(data, out, epochs);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure whose whole stderr is the one line `want`.
pub fn assert_error_line(o: &Output, want: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err, format!("{want}\n"));
}

/// Asserts success, returning stderr.
pub fn assert_ok(o: &Output) -> String {
    let err = stderr(o);
    assert!(o.status.success(), "lt-train failed: {err}");
    err
}

/// Asserts a clean failure of `lt-train` (exit status 1, or 2 for a flag clap refuses; no
/// panic) whose last stderr line starts `lt-train: ` and holds every needle, and no earlier
/// line starts so (a `--seeds` sweep passes its seeds' lines on before it, prefixed
/// `[seed S]`). Returns that line.
pub fn failed_line(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert!(
        matches!(o.status.code(), Some(1 | 2)),
        "{:?}: {err}",
        o.status
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("lt-train: "), "{err}");
    let errors = lines.iter().filter(|l| l.starts_with("lt-train: ")).count();
    assert_eq!(errors, 1, "{err}");
    for n in needles {
        assert!(last.contains(n), "{n:?} not in {last:?}");
    }
    last.to_string()
}
