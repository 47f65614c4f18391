//! Class-per-folder trees (torchvision's ImageFolder convention): `root/CLASS/**/image.jpg`,
//! classes in sorted folder-name order. A root holding `train/` and `test/` (or `val/`) is
//! read as those two splits sharing the training class list.

use super::{Pixels, Sample, SourceData};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "bmp", "ppm", "webp"];

/// Reads an image tree; with no `train/` folder the whole root is the training split and
/// the test split is empty.
pub fn read(root: &Path) -> Result<SourceData> {
    let train_dir = root.join("train");
    let (train_root, test_root) = if train_dir.is_dir() {
        let test = ["test", "val"]
            .iter()
            .map(|n| root.join(n))
            .find(|p| p.is_dir());
        (train_dir, test)
    } else {
        (root.to_path_buf(), None)
    };
    let classes = subdirs(&train_root)?;
    if classes.is_empty() {
        return Err(Error::format(&train_root, "no class folders"));
    }
    let mut train = Vec::new();
    for (label, name) in classes.iter().enumerate() {
        let dir = train_root.join(name);
        let files = images(&dir)?;
        if files.is_empty() {
            return Err(Error::format(&dir, "class folder holds no images"));
        }
        train.extend(files.into_iter().map(|p| Sample {
            label: label as u32,
            pixels: Pixels::File(p),
        }));
    }
    let mut test = Vec::new();
    if let Some(test_root) = test_root {
        for name in subdirs(&test_root)? {
            let label = classes.binary_search(&name).map_err(|_| {
                Error::format(
                    test_root.join(&name),
                    "class folder has no counterpart in the training tree",
                )
            })?;
            let files = images(&test_root.join(&name))?;
            test.extend(files.into_iter().map(|p| Sample {
                label: label as u32,
                pixels: Pixels::File(p),
            }));
        }
    }
    Ok(SourceData {
        class_names: classes,
        train,
        test,
        ..Default::default()
    })
}

fn read_dir(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // Follows symbolic links, as trees of linked images are common.
        let is_dir = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .is_dir();
        out.push((name, path, is_dir));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Sorted names of the visible sub-folders.
fn subdirs(dir: &Path) -> Result<Vec<String>> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|e| e.2)
        .map(|e| e.0)
        .collect())
}

/// Image files under `dir`, recursively, in sorted path order.
fn images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (name, path, is_dir) in read_dir(dir)? {
        if is_dir {
            out.extend(images(&path)?);
        } else if let Some((_, ext)) = name.rsplit_once('.') {
            if EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)) {
                out.push(path);
            }
        }
    }
    Ok(out)
}
