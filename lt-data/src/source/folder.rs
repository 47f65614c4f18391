//! Class-per-folder trees (torchvision's ImageFolder convention): `root/CLASS/**/image.jpg`,
//! classes in sorted folder-name order. A root holding `train/` and `test/` (or `val/`) is
//! read as those two splits sharing the training class list.

use super::{Pixels, Sample, SourceData};
use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The image files a tree may hold, by extension (any case); the `image` crate's `jpeg`, `png`,
/// `bmp`, `webp` and `pnm` features decode them. Any other visible file in a class folder is an
/// error before anything is decoded.
pub const EXTENSIONS: [&str; 9] = [
    "jpg", "jpeg", "png", "bmp", "webp", "ppm", "pgm", "pbm", "pnm",
];

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
    for (label, (_, dir)) in classes.iter().enumerate() {
        let files = images(dir)?;
        if files.is_empty() {
            return Err(Error::format(dir, "class folder holds no images"));
        }
        train.extend(files.into_iter().map(|p| Sample {
            label: label as u32,
            pixels: Pixels::File(p),
        }));
    }
    let mut test = Vec::new();
    if let Some(test_root) = test_root {
        for (name, dir) in subdirs(&test_root)? {
            let label = classes
                .binary_search_by(|(n, _)| n.cmp(&name))
                .map_err(|_| {
                    Error::format(&dir, "class folder has no counterpart in the training tree")
                })?;
            let files = images(&dir)?;
            test.extend(files.into_iter().map(|p| Sample {
                label: label as u32,
                pixels: Pixels::File(p),
            }));
        }
    }
    Ok(SourceData {
        class_names: classes.iter().map(|(n, _)| display_name(n)).collect(),
        train,
        test,
        ..Default::default()
    })
}

/// The visible entries of `dir` sorted by name (bytes: names need not be UTF-8), each with
/// its path and whether it is a directory.
fn read_dir(dir: &Path) -> Result<Vec<(OsString, PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name();
        if name.as_encoded_bytes().starts_with(b".") {
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

/// Names and paths of the visible sub-folders, sorted by name.
fn subdirs(dir: &Path) -> Result<Vec<(OsString, PathBuf)>> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|e| e.2)
        .map(|e| (e.0, e.1))
        .collect())
}

/// A folder name as text for the manifest: itself when UTF-8, else with each invalid byte
/// written `\xNN`, so that distinct folders keep distinct names.
fn display_name(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Image files under `dir`, recursively, in sorted path order; the first visible file of
/// another kind is an error naming it and the supported extensions.
fn images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (name, path, is_dir) in read_dir(dir)? {
        if is_dir {
            out.extend(images(&path)?);
        } else if is_image(&name) {
            out.push(path);
        } else {
            return Err(Error::format(
                &path,
                format!(
                    "not a supported image file (extensions: {})",
                    EXTENSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(out)
}

/// Whether a file name ends in one of [`EXTENSIONS`], in any case.
fn is_image(name: &OsStr) -> bool {
    name.to_string_lossy()
        .rsplit_once('.')
        .is_some_and(|(_, ext)| EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Image files (their content does not matter to the reader) under `root`.
    fn touch(root: &Path, rels: &[&str]) {
        crate::testutil::write_files(root, rels, b"img");
    }

    #[test]
    fn single_tree_sorted_classes() {
        let t = tempfile::tempdir().unwrap();
        touch(
            t.path(),
            &[
                "zebra/1.JPG",
                "zebra/sub/2.png",
                "ant/b.webp",
                "ant/a.jpeg",
                "ant/.hidden.txt",
                "bee/x.Bmp",
            ],
        );
        let d = read(t.path()).unwrap();
        assert_eq!(d.class_names, ["ant", "bee", "zebra"]);
        let got: Vec<(u32, std::path::PathBuf)> = d
            .train
            .iter()
            .map(|s| match &s.pixels {
                Pixels::File(p) => (s.label, p.strip_prefix(t.path()).unwrap().to_path_buf()),
                _ => panic!(),
            })
            .collect();
        let want: Vec<(u32, std::path::PathBuf)> = [
            (0, "ant/a.jpeg"),
            (0, "ant/b.webp"),
            (1, "bee/x.Bmp"),
            (2, "zebra/1.JPG"),
            (2, "zebra/sub/2.png"),
        ]
        .into_iter()
        .map(|(l, p)| (l, p.into()))
        .collect();
        assert_eq!(got, want);
        assert!(d.test.is_empty());
    }

    #[test]
    fn train_and_val_split() {
        let t = tempfile::tempdir().unwrap();
        touch(
            t.path(),
            &[
                "train/cat/1.jpg",
                "train/dog/2.jpg",
                "train/eel/3.jpg",
                "val/dog/4.jpg",
                "val/eel/5.ppm",
            ],
        );
        let d = read(t.path()).unwrap();
        assert_eq!(d.class_names, ["cat", "dog", "eel"]);
        assert_eq!(d.train.len(), 3);
        assert_eq!(d.test.iter().map(|s| s.label).collect::<Vec<_>>(), [1, 2]);
        touch(t.path(), &["val/fox/6.jpg"]);
        let e = read(t.path()).unwrap_err().to_string();
        assert!(e.contains("val/fox") && e.contains("no counterpart"), "{e}");
    }

    #[test]
    fn class_folders_named_in_any_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let t = tempfile::tempdir().unwrap();
        let latin1 = OsStr::from_bytes(b"caf\xe9");
        let other = OsStr::from_bytes(b"caf\xe8");
        for split in ["train", "val"] {
            for c in [OsStr::new("ant"), latin1, other] {
                let d = t.path().join(split).join(c);
                std::fs::create_dir_all(&d).unwrap();
                std::fs::write(d.join(OsStr::from_bytes(b"\xff.jpg")), b"img").unwrap();
            }
        }
        let d = read(t.path()).unwrap();
        assert_eq!(d.class_names, ["ant", "caf\\xe8", "caf\\xe9"]);
        assert_eq!(
            d.train.iter().map(|s| s.label).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(
            d.test.iter().map(|s| s.label).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert_eq!(
            d.train[2].pixels,
            Pixels::File(
                t.path()
                    .join("train")
                    .join(latin1)
                    .join(OsStr::from_bytes(b"\xff.jpg"))
            )
        );
        assert_eq!(display_name(OsStr::new("zebra ü")), "zebra ü");
    }

    #[test]
    fn unreadable_or_empty_trees() {
        let t = tempfile::tempdir().unwrap();
        let e = read(&t.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        let e = read(t.path()).unwrap_err().to_string();
        assert!(e.contains("no class folders"), "{e}");
        std::fs::create_dir(t.path().join("cat")).unwrap();
        let e = read(t.path()).unwrap_err().to_string();
        assert!(e.contains("cat") && e.contains("no images"), "{e}");
    }

    #[test]
    fn other_files_are_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        touch(
            t.path(),
            &[
                "cat/a.PGM",
                "cat/b.pnm",
                "cat/c.pbm",
                "dog/x.tiff",
                "dog/y.gif",
            ],
        );
        let e = read(t.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("dog/x.tiff: not a supported image file (extensions: jpg, jpeg, png, bmp, webp, ppm, pgm, pbm, pnm)"),
            "{e}"
        );
        std::fs::remove_file(t.path().join("dog/x.tiff")).unwrap();
        std::fs::remove_file(t.path().join("dog/y.gif")).unwrap();
        touch(t.path(), &["dog/README"]);
        let e = read(t.path()).unwrap_err().to_string();
        assert!(e.contains("dog/README: not a supported image file"), "{e}");
    }
}
