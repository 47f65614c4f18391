//! Shared by the benches (`build`, `loader`): settings from the environment and the Python
//! that runs the reference side.

use std::path::{Path, PathBuf};

/// The environment variable `name` as a number, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// LT_BENCH_PYTHON, else the workspace's .venv/bin/python, else `python3`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("LT_BENCH_PYTHON") {
        return p.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}
