//! Shared by the plugin tests: builds the plugin crates they load.
//!
//! The example plugin and the test-fixture plugin are workspace members, built here with
//! `cargo build -p lt-plugin-example-loss -p lt-testdata-misbehaving` into the same target
//! directory and profile as the running test binary (so tch is not compiled twice). The
//! single-file fixtures in plugins/testdata/*.rs need no dependencies and are compiled with
//! `rustc --crate-type cdylib` into a temp directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// target/<profile> of the running test binary (which lives in target/<profile>/deps).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    assert_eq!(
        deps.file_name().unwrap(),
        "deps",
        "unexpected test binary location {}",
        exe.display()
    );
    deps.parent().unwrap().to_path_buf()
}

/// Builds the plugin crates once per test binary; returns the directory holding the .so files.
pub fn plugins_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        let profile = dir.file_name().unwrap().to_str().unwrap().to_string();
        let target = dir.parent().unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "lt-plugin-example-loss",
                "-p",
                "lt-testdata-misbehaving",
            ])
            .arg("--target-dir")
            .arg(target);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            p => {
                cmd.args(["--profile", p]);
            }
        }
        let st = cmd
            .status()
            .expect("running cargo to build the plugin crates");
        assert!(st.success(), "building the plugin crates failed: {st}");
        for f in [
            "liblt_plugin_example_loss.so",
            "liblt_testdata_misbehaving.so",
        ] {
            assert!(
                dir.join(f).is_file(),
                "{} was not built",
                dir.join(f).display()
            );
        }
        dir
    })
}

pub fn example_plugin() -> PathBuf {
    plugins_dir().join("liblt_plugin_example_loss.so")
}

pub fn misbehaving_plugin() -> PathBuf {
    plugins_dir().join("liblt_testdata_misbehaving.so")
}

/// Compiles plugins/testdata/<stem>.rs into `<out>/lib<stem>.so`.
pub fn compile_fixture(stem: &str, out: &Path) -> PathBuf {
    let src = workspace_root()
        .join("plugins/testdata")
        .join(format!("{stem}.rs"));
    let so = out.join(format!("lib{stem}.so"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let st = Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "cdylib", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .expect("running rustc");
    assert!(st.success(), "compiling {} failed", src.display());
    so
}

/// A CPU dataset with these class counts and feature width (see `DatasetInfo::for_test`).
pub fn dataset(counts: Vec<u64>, feature_dim: usize) -> lt_core::plugin::DatasetInfo {
    lt_core::plugin::DatasetInfo::for_test(counts).with_feature_dim(feature_dim)
}
