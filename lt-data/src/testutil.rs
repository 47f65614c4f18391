//! Fixtures shared by the crate's unit tests.

use std::path::Path;

/// A noisy RGB image of `w` x `h`, HWC: every byte differs from its neighbours, and rows
/// differ by a slow ramp (JPEG codec tests: no block is flat).
pub(crate) fn noisy_rgb(w: usize, h: usize) -> Vec<u8> {
    (0..w * h * 3)
        .map(|i| ((i * 7919) % 251 + (i / 3 / w) % 7) as u8)
        .collect()
}

/// Writes `content` to each of `files` (paths relative to `root`), creating their folders.
pub(crate) fn write_files(root: &Path, files: &[&str], content: &[u8]) {
    for rel in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// A Python that can import numpy: the project venv, else `python3`. Fails (never skips)
/// otherwise, because the numpy-identical selections (`--compat ldam`) are only checked with it.
pub(crate) fn numpy_python() -> std::path::PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    for py in [venv, "python3".into()] {
        let ok = std::process::Command::new(&py)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return py;
        }
    }
    panic!("no Python with numpy (tried .venv/bin/python and python3): run scripts/setup.sh");
}

/// The labels of the real Fashion-MNIST (Debian's dataset-fashion-mnist) in `file`, e.g.
/// `train-labels-idx1-ubyte.gz` or `t10k-labels-idx1-ubyte.gz`.
pub(crate) fn fashion_mnist_labels(file: &str) -> Vec<u32> {
    use std::io::Read;
    let path = Path::new("/usr/share/datasets/fashion-mnist").join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run scripts/setup.sh to install it)",
            path.display()
        )
    });
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(
        &raw[..4],
        &[0, 0, 8, 1],
        "{}: not an IDX1 ubyte file",
        path.display()
    );
    let n = u32::from_be_bytes(raw[4..8].try_into().unwrap()) as usize;
    assert_eq!(raw.len(), 8 + n, "{}: truncated", path.display());
    raw[8..].iter().map(|&b| u32::from(b)).collect()
}
