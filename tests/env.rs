//! `lt-train env` through the real binary: exits 0 and prints every key once, in order; built
//! against the venv's CUDA wheel (scripts/setup.sh adds the CUDA headers it lacks), the binary
//! has NCCL and libtorch's CUDA part even on a machine without a GPU.
use std::path::Path;
use std::process::Command;

use lt_core::env::KEYS;

fn lt_train_env() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lt-train"))
        .arg("env")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "lt-train env: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value printed for `key`.
fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in\n{text}"))
}

#[test]
fn prints_every_key_once_in_order() {
    let text = lt_train_env();
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(k, _)| k))
        .collect();
    assert_eq!(keys, KEYS, "{text}");
    assert_eq!(value(&text, "lt"), env!("CARGO_PKG_VERSION"));
    assert!(value(&text, "tch").starts_with("0."), "{text}");
    let devices: usize = value(&text, "cuda devices").parse().unwrap();
    if devices == 0 {
        assert_eq!(value(&text, "cuda device names"), "none");
    } else {
        assert_eq!(
            value(&text, "cuda device names").matches("cuda:").count(),
            devices
        );
    }
    assert_eq!(
        value(&text, "gloo compiled"),
        "yes",
        "libgloo-dev is set up"
    );
}

#[test]
fn cuda_wheel_gives_nccl_and_cuda() {
    let torch_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/torch-lib");
    if !torch_lib.join("libtorch_cuda.so").exists() {
        eprintln!("skipped: the venv's torch is not a CUDA wheel");
        return;
    }
    let text = lt_train_env();
    assert!(text.contains("\nnccl compiled: yes\n"), "{text}");
    assert!(
        value(&text, "cuda compiled").starts_with("yes (CUDA "),
        "{text}"
    );
    assert_ne!(value(&text, "cudnn version"), "none", "{text}");
}
