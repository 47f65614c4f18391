//! Shared by the plugin tests: where the plugin libraries they load are.
//!
//! The example plugin and the test fixtures (plugins/testdata: a misbehaving plugin, a library
//! claiming a future ABI version, one without the table symbol) are dev-dependencies of lt-core,
//! so cargo builds their `.so` files into target/<profile>/deps, the directory of the running
//! test executable, before it runs the tests. A new fixture is one such crate plus one line in
//! lt-core's `[dev-dependencies]`.
#![allow(dead_code)]

use std::path::PathBuf;

/// target/<profile>/deps, the directory of the running test executable, where cargo put the
/// plugin libraries of lt-core's dev-dependencies.
pub fn plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    assert_eq!(
        deps.file_name().unwrap(),
        "deps",
        "unexpected test executable location {} (run the tests with cargo test)",
        exe.display()
    );
    deps.to_path_buf()
}

/// The library `lib<stem>.so` cargo built for these tests.
fn library(stem: &str) -> PathBuf {
    let so = plugins_dir().join(format!("lib{stem}.so"));
    assert!(
        so.is_file(),
        "{} missing: list its crate under [dev-dependencies] in lt-core/Cargo.toml",
        so.display()
    );
    so
}

pub fn example_plugin() -> PathBuf {
    library("lt_plugin_example_loss")
}

pub fn misbehaving_plugin() -> PathBuf {
    library("lt_testdata_misbehaving")
}

/// The fixture crate plugins/testdata/<name> (crate `lt-testdata-<name>`) as a library; `name`
/// with underscores, as in `abi_v999`.
pub fn fixture(name: &str) -> PathBuf {
    library(&format!("lt_testdata_{name}"))
}

/// A CPU dataset with these class counts and feature width (see `DatasetInfo::for_test`).
pub fn dataset(counts: Vec<u64>, feature_dim: usize) -> lt_core::plugin::DatasetInfo {
    lt_core::plugin::DatasetInfo::for_test(counts).with_feature_dim(feature_dim)
}

/// Version-2 components that break the ABI's rules (plugins/testdata/bad-v2).
pub fn bad_v2_plugin() -> PathBuf {
    library("lt_testdata_bad_v2")
}

/// A version-2 table as first released, without `model_ext` (plugins/testdata/v2-base).
pub fn v2_base_plugin() -> PathBuf {
    library("lt_testdata_v2_base")
}
