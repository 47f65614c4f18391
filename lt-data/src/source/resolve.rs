//! Every entry of a split list looked up under the image root by the rules of the dataset's
//! layout (`layout`), before anything is decoded: the images found become samples, and a report
//! says per split how many were listed, found (and by which rule) and missing. Nothing fails on a
//! missing image here; what a build does with them is `crate::missing`'s.

use super::layout::RawLayout;
use super::{Pixels, Sample};
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// How many missing images per split the report shows (the report file lists all).
pub const SHOWN: usize = 5;

/// Where an entry is in its list file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The 1-based line of a split list.
    Line(usize),
    /// The index in `images` and the id of an image of an iNaturalist JSON file.
    Image { index: usize, id: u64 },
}

impl Place {
    /// The place as the report file's second column: `12`, `images[3]`.
    pub fn column(&self) -> String {
        match self {
            Place::Line(n) => n.to_string(),
            Place::Image { index, .. } => format!("images[{index}]"),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Image { index, id } => write!(f, "images[{index}] (id {id})"),
        }
    }
}

/// One image a list names.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub place: Place,
    /// The path as the list writes it.
    pub path: String,
    pub label: u32,
}

/// A listed image found in none of the layout's places.
#[derive(Clone, Debug, PartialEq)]
pub struct Missing {
    pub place: Place,
    /// The path as the list writes it.
    pub path: String,
}

/// What looking up one split's list found.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitReport {
    /// `train`, `test` or `val`.
    pub split: String,
    pub list: PathBuf,
    pub listed: usize,
    /// (rule, images it found), in the order rules first found one.
    pub found_by: Vec<(&'static str, usize)>,
    /// Every missing image, in list order.
    pub missing: Vec<Missing>,
}

impl SplitReport {
    pub fn found(&self) -> usize {
        self.listed - self.missing.len()
    }

    /// `ImageNet_LT_train.txt`: the list's file name, for messages.
    pub fn list_name(&self) -> String {
        self.list
            .file_name()
            .unwrap_or(self.list.as_os_str())
            .to_string_lossy()
            .into_owned()
    }
}

/// What looking up every list of a source found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolution {
    /// The image root.
    pub root: PathBuf,
    pub layout: RawLayout,
    pub splits: Vec<SplitReport>,
}

impl Resolution {
    pub fn listed(&self) -> usize {
        self.splits.iter().map(|s| s.listed).sum()
    }

    pub fn missing(&self) -> usize {
        self.splits.iter().map(|s| s.missing.len()).sum()
    }
}

/// The report printed before decoding: one line per split, then the first missing images of
/// each split that has some.
impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        writeln!(
            f,
            "images listed under {} (layout {}):",
            self.root.display(),
            self.layout.name()
        )?;
        let width = self.splits.iter().map(|s| s.split.len()).max().unwrap_or(0);
        for s in &self.splits {
            let by: Vec<String> = s
                .found_by
                .iter()
                .map(|(r, n)| format!("{r}: {n}"))
                .collect();
            let by = if by.is_empty() {
                String::new()
            } else {
                format!(" ({})", by.join(", "))
            };
            writeln!(
                f,
                "  {:<width$} {} listed, {} found{by}, {} missing",
                s.split,
                s.listed,
                s.found(),
                s.missing.len()
            )?;
        }
        for s in self.splits.iter().filter(|s| !s.missing.is_empty()) {
            let more = s.missing.len().saturating_sub(SHOWN);
            let more = if more > 0 {
                format!(" ({more} more not shown)")
            } else {
                String::new()
            };
            writeln!(f, "  missing from {} ({}){more}:", s.split, s.list_name())?;
            for m in s.missing.iter().take(SHOWN) {
                writeln!(f, "    {}: {}", m.place, m.path)?;
            }
        }
        Ok(())
    }
}

/// Fails unless `root` is a directory.
pub fn check_root(root: &Path) -> Result<()> {
    if root.is_dir() {
        return Ok(());
    }
    Err(Error::io(
        root,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "image root is not a directory",
        ),
    ))
}

/// Looks up every entry of `list` (split `split`) under `root` by `layout`'s rules: the
/// samples found, in list order, and the split's report.
pub fn resolve(
    root: &Path,
    layout: RawLayout,
    split: &str,
    list: &Path,
    entries: &[Entry],
) -> (Vec<Sample>, SplitReport) {
    let found: Vec<Option<(&'static str, PathBuf)>> = entries
        .par_iter()
        .map(|e| {
            layout
                .candidates(&e.path)
                .into_iter()
                .map(|(rule, rel)| (rule, root.join(rel)))
                .find(|(_, p)| p.is_file())
        })
        .collect();
    let mut samples = Vec::with_capacity(entries.len());
    let mut report = SplitReport {
        split: split.to_string(),
        list: list.to_path_buf(),
        listed: entries.len(),
        found_by: Vec::new(),
        missing: Vec::new(),
    };
    for (e, f) in entries.iter().zip(found) {
        let Some((rule, path)) = f else {
            report.missing.push(Missing {
                place: e.place,
                path: e.path.clone(),
            });
            continue;
        };
        match report.found_by.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, n)) => *n += 1,
            None => report.found_by.push((rule, 1)),
        }
        samples.push(Sample {
            label: e.label,
            pixels: Pixels::File(path),
        });
    }
    (samples, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::write_files;

    fn entry(line: usize, path: &str, label: u32) -> Entry {
        Entry {
            place: Place::Line(line),
            path: path.into(),
            label,
        }
    }

    #[test]
    fn finds_each_image_by_the_first_rule_that_has_it() {
        let t = tempfile::tempdir().unwrap();
        write_files(
            t.path(),
            &[
                "val/n01440764/ILSVRC2012_val_00029930.JPEG",
                "val/ILSVRC2012_val_00017700.JPEG",
                // In both places: the class folder wins.
                "val/n01440764/ILSVRC2012_val_00048969.JPEG",
                "val/ILSVRC2012_val_00048969.JPEG",
            ],
            b"jpeg",
        );
        let entries = [
            entry(1, "val/n01440764/ILSVRC2012_val_00029930.JPEG", 0),
            entry(2, "val/n01440764/ILSVRC2012_val_00017700.JPEG", 0),
            entry(4, "val/n01440764/ILSVRC2012_val_00048969.JPEG", 0),
            entry(5, "val/n01443537/ILSVRC2012_val_00000001.JPEG", 1),
        ];
        let list = t.path().join("ImageNet_LT_test.txt");
        let (samples, r) = resolve(t.path(), RawLayout::Ilsvrc2012, "test", &list, &entries);
        let files: Vec<PathBuf> = samples
            .iter()
            .map(|s| match &s.pixels {
                Pixels::File(p) => p.strip_prefix(t.path()).unwrap().to_path_buf(),
                Pixels::Raw { .. } => unreachable!(),
            })
            .collect();
        assert_eq!(
            files,
            [
                "val/n01440764/ILSVRC2012_val_00029930.JPEG",
                "val/ILSVRC2012_val_00017700.JPEG",
                "val/n01440764/ILSVRC2012_val_00048969.JPEG"
            ]
            .map(PathBuf::from)
        );
        assert_eq!((r.listed, r.found()), (4, 3));
        assert_eq!(r.found_by, [("class folders", 2), ("flat val/", 1)]);
        assert_eq!(
            r.missing,
            [Missing {
                place: Place::Line(5),
                path: "val/n01443537/ILSVRC2012_val_00000001.JPEG".into()
            }]
        );
        let res = Resolution {
            root: PathBuf::from("/data/ILSVRC2012"),
            layout: RawLayout::Ilsvrc2012,
            splits: vec![r],
        };
        assert_eq!(
            res.to_string(),
            "images listed under /data/ILSVRC2012 (layout ilsvrc2012):\n\
             \x20 test 4 listed, 3 found (class folders: 2, flat val/: 1), 1 missing\n\
             \x20 missing from test (ImageNet_LT_test.txt):\n\
             \x20   line 5: val/n01443537/ILSVRC2012_val_00000001.JPEG\n"
        );
    }

    #[test]
    fn the_report_shows_the_first_few_missing() {
        let entries: Vec<Entry> = (1..=8)
            .map(|i| entry(i * 2, &format!("train/a/{i}.jpg"), 0))
            .collect();
        let t = tempfile::tempdir().unwrap();
        let (samples, r) = resolve(
            t.path(),
            RawLayout::AsListed,
            "train",
            Path::new("l.txt"),
            &entries,
        );
        assert!(samples.is_empty());
        let text = Resolution {
            root: t.path().into(),
            layout: RawLayout::AsListed,
            splits: vec![r],
        }
        .to_string();
        assert!(
            text.contains("train 8 listed, 0 found, 8 missing\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "missing from train (l.txt) (3 more not shown):\n    line 2: train/a/1.jpg\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("    line 10: train/a/5.jpg\n"), "{text}");
        assert_eq!(
            Place::Image { index: 3, id: 77 }.to_string(),
            "images[3] (id 77)"
        );
        assert_eq!(Place::Image { index: 3, id: 77 }.column(), "images[3]");
        let e = check_root(&t.path().join("nope")).unwrap_err().to_string();
        assert!(e.ends_with("nope: image root is not a directory"), "{e}");
    }
}
