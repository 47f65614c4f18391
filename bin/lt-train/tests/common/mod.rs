//! Shared by the end-to-end tests of `lt-train`: a real Fashion-MNIST-LT dataset built once per
//! test binary with the real `lt-data`, scratch directories, and tiny training runs.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// This test binary's scratch directory, `CARGO_TARGET_TMPDIR/lt-train-tests/NAME-PID`; those
/// of finished processes are removed first, so runs of the same tests do not collide.
pub fn scratch(name: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lt-train-tests");
        std::fs::create_dir_all(&base).unwrap();
        for e in std::fs::read_dir(&base).unwrap().flatten() {
            let file_name = e.file_name();
            let Some(pid) = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(&format!("{name}-")))
            else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = base.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A fresh, empty directory `sub` of this test binary's scratch directory, for one test.
pub fn scratch_dir(name: &str, sub: &str) -> PathBuf {
    let d = scratch(name).join(sub);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the workspace `packages` next to the lt-train binary (same target directory and
/// profile, where its plugin search looks); a no-op when they are up to date. Returns that
/// profile directory.
pub fn cargo_build(packages: &[&str]) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lt-train"));
    let profile_dir = bin.parent().unwrap();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root()).args(["build", "--quiet"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    cmd.arg("--target-dir").arg(profile_dir.parent().unwrap());
    match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        p => {
            cmd.args(["--profile", p]);
        }
    }
    assert!(
        cmd.status().unwrap().success(),
        "building {packages:?} failed"
    );
    profile_dir.to_path_buf()
}

/// `lt-data`, built next to the lt-train binary.
fn lt_data_bin() -> PathBuf {
    cargo_build(&["lt-data-cli"]).join("lt-data")
}

/// Fashion-MNIST-LT (imbalance 100: 14886 training images), built once per test binary.
pub fn dataset(name: &str) -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let out = scratch(name).join("fmnist-lt");
        let res = Command::new(lt_data_bin())
            .args([
                "build",
                "--dataset",
                "fashion-mnist",
                "--imbalance",
                "100",
                "-q",
            ])
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
    })
}

/// `lt-train`, with no plugin search path from the environment.
pub fn lt_train_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lt-train"));
    c.env_remove("LT_PLUGIN_PATH");
    c
}

/// `lt-train ARGS` with no plugin search path from the environment.
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
