//! Where things are: the repository root, the venv's Python, the plugin libraries cargo built for
//! the tests, the real Fashion-MNIST, and per-test scratch directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Debian's Fashion-MNIST (scripts/setup.sh installs it).
pub const FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The repository root (the root package's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An official split list in `../shared/splits` (ImageNet-LT, Places-LT, iNaturalist): read
/// from there, never copied into the repository.
pub fn shared_split(name: &str) -> PathBuf {
    let p = root().join("../shared/splits").join(name);
    assert!(p.is_file(), "{} missing", p.display());
    p
}

/// The project venv's Python (numpy, PIL); scripts/setup.sh creates it. Never skipped.
pub fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
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

/// The directory holding the plugin libraries cargo built for this test. The plugin crates are
/// dev-dependencies of the root package, so `cargo test` builds their `.so` files into
/// target/<profile>/deps, the directory of this test executable, before it runs.
pub fn plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

/// The plugin library `liblt_plugin_<name>.so` cargo built for this test.
pub fn plugin(name: &str) -> PathBuf {
    let so = plugins_dir().join(format!("liblt_plugin_{name}.so"));
    assert!(
        so.is_file(),
        "{} missing: list its crate under [dev-dependencies] in the root Cargo.toml",
        so.display()
    );
    so
}

/// This test binary's scratch directory, `CARGO_TARGET_TMPDIR/e2e/NAME-PID`; those of finished
/// processes are removed first, so runs of the same tests do not collide.
pub fn scratch(name: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
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
