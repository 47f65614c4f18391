//! Fixtures shared by the crate's unit tests.

use std::path::Path;

/// Writes `content` to each of `files` (paths relative to `root`), creating their folders.
pub(crate) fn write_files(root: &Path, files: &[&str], content: &[u8]) {
    for rel in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}
