//! What a build does with listed images that are under the source directory in none of the
//! places its layout allows (`source::resolve` finds them before anything is decoded).
//!
//! Without `--skip-missing` the build stops, and every missing image is written to
//! `OUT.missing.txt` beside the output path, never inside it: a failed build leaves nothing that
//! looks like a dataset. With `--skip-missing` it builds from the images found, lists the skipped
//! ones in the dataset's own `missing.txt`, and counts them per split in the manifest
//! (`missing_skipped`). Both files are a `#` header line, then one `SPLIT PLACE PATH` line per
//! missing image, in list order: PLACE is the list's line number (`images[I]` in an iNaturalist
//! JSON file) and PATH the path as the list writes it.

use crate::error::{Error, Result};
use crate::manifest::write_atomic;
use crate::source::Resolution;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a build stopped before decoding: listed images missing under the source directory.
#[derive(Debug, thiserror::Error)]
#[error(
    "{missing} of {listed} listed images are not under {} ({per_split}; first: {first}); all {missing} are listed in {}; pass --skip-missing to build from the {} found",
    src.display(),
    report.display(),
    listed - missing
)]
pub struct MissingImages {
    /// The image root.
    pub src: PathBuf,
    pub listed: usize,
    pub missing: usize,
    /// The splits with missing images: `train 1 of 12, test 2 of 10`.
    pub per_split: String,
    /// The first missing image: `ImageNet_LT_train.txt line 4: train/n01443537/n01443537_5.JPEG`.
    pub first: String,
    /// The file listing them all (`OUT.missing.txt`).
    pub report: PathBuf,
}

/// The report's name inside a dataset built with `--skip-missing`.
pub const FILE: &str = "missing.txt";

/// How every report file lt-data writes begins; a file beside the output that does not is
/// never replaced or removed.
const HEADER: &str = "# lt-data build";

/// `OUT.missing.txt`, beside the output directory `out`: where a build that stops on missing
/// images lists them.
pub fn beside(out: &Path) -> PathBuf {
    let name = out.file_name().unwrap_or(out.as_os_str()).to_string_lossy();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    parent.join(format!("{name}.missing.txt"))
}

/// The report file of dataset `dataset`'s build: the header, then one line per missing image.
pub fn text(dataset: &str, r: &Resolution) -> String {
    let mut s = format!(
        "{HEADER} --dataset {dataset}: {} of {} listed images are not under {} (layout {}); one `split place path` a line\n",
        r.missing(),
        r.listed(),
        r.root.display(),
        r.layout.name()
    );
    for split in &r.splits {
        for m in &split.missing {
            s.push_str(&format!(
                "{} {} {}\n",
                split.split,
                m.place.column(),
                m.path
            ));
        }
    }
    s
}

/// Missing images per split, for splits that miss any.
pub fn counts(r: &Resolution) -> BTreeMap<String, usize> {
    r.splits
        .iter()
        .filter(|s| !s.missing.is_empty())
        .map(|s| (s.split.clone(), s.missing.len()))
        .collect()
}

/// Decides, before anything is decoded, what the build into `out` (staged in `staging`) does
/// about the missing images of `resolution`: nothing when none is missing; with `skip`, lists
/// them in `staging/missing.txt` and returns the counts per split for the manifest; otherwise
/// lists them in `OUT.missing.txt` and fails with [`Error::MissingImages`].
pub fn settle(
    resolution: Option<&Resolution>,
    dataset: &str,
    out: &Path,
    staging: &Path,
    skip: bool,
) -> Result<BTreeMap<String, usize>> {
    let Some(r) = resolution.filter(|r| r.missing() > 0) else {
        return Ok(BTreeMap::new());
    };
    let text = text(dataset, r);
    if skip {
        write_atomic(&staging.join(FILE), text.as_bytes())?;
        return Ok(counts(r));
    }
    let report = beside(out);
    if report.exists() && !is_ours(&report) {
        return Err(Error::invalid(format!(
            "{}: exists and lt-data did not write it, so the {} listed images missing under {} cannot be listed there; move it away, or pass --skip-missing to build from the images found",
            report.display(),
            r.missing(),
            r.root.display()
        )));
    }
    write_atomic(&report, text.as_bytes())?;
    Err(stopped(r, report))
}

/// The error of a build that stops on the missing images of `r`, listed in `report`.
fn stopped(r: &Resolution, report: PathBuf) -> Error {
    let with_missing = || r.splits.iter().filter(|s| !s.missing.is_empty());
    let per_split: Vec<String> = with_missing()
        .map(|s| format!("{} {} of {}", s.split, s.missing.len(), s.listed))
        .collect();
    let first = with_missing()
        .next()
        .map(|s| {
            let m = &s.missing[0];
            format!("{} {}: {}", s.list_name(), m.place, m.path)
        })
        .unwrap_or_default();
    Error::MissingImages(Box::new(MissingImages {
        src: r.root.clone(),
        listed: r.listed(),
        missing: r.missing(),
        per_split: per_split.join(", "),
        first,
        report,
    }))
}

/// Whether `path` begins as the reports lt-data writes do.
fn is_ours(path: &Path) -> bool {
    let mut head = [0u8; HEADER.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head == HEADER.as_bytes())
}

/// After a build into `out` succeeded: removes the `OUT.missing.txt` of an earlier build that
/// stopped there, if lt-data wrote it; the note saying so.
pub fn remove_stale(out: &Path) -> Result<Option<String>> {
    let report = beside(out);
    if !report.is_file() || !is_ours(&report) {
        return Ok(None);
    }
    std::fs::remove_file(&report).map_err(|e| Error::io(&report, e))?;
    Ok(Some(format!(
        "removed {}, the missing-image report of an earlier build that stopped",
        report.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::layout::RawLayout;
    use crate::source::resolve::{Missing, Place, SplitReport};

    fn resolution() -> Resolution {
        let split = |name: &str, list: &str, listed, missing: Vec<Missing>| SplitReport {
            split: name.into(),
            list: PathBuf::from("/lists").join(list),
            listed,
            found_by: vec![("class folders", listed - missing.len())],
            missing,
        };
        let m = |line, path: &str| Missing {
            place: Place::Line(line),
            path: path.into(),
        };
        Resolution {
            root: PathBuf::from("/data/ILSVRC2012"),
            layout: RawLayout::Ilsvrc2012,
            splits: vec![
                split(
                    "train",
                    "ImageNet_LT_train.txt",
                    12,
                    vec![m(4, "train/n01443537/n01443537_5.JPEG")],
                ),
                split("test", "ImageNet_LT_test.txt", 10, vec![]),
                split(
                    "val",
                    "ImageNet_LT_val.txt",
                    8,
                    vec![
                        m(1, "train/n01440764/n01440764_762.JPEG"),
                        m(7, "train/n01443537/a b.JPEG"),
                    ],
                ),
            ],
        }
    }

    #[test]
    fn stopping_lists_every_missing_image_beside_the_output() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("inet-lt");
        let staging = t.path().join(".inet-lt.partial-1");
        std::fs::create_dir(&staging).unwrap();
        let r = resolution();
        let e = settle(Some(&r), "imagenet-lt", &out, &staging, false)
            .unwrap_err()
            .to_string();
        let report = t.path().join("inet-lt.missing.txt");
        assert_eq!(
            e,
            format!(
                "3 of 30 listed images are not under /data/ILSVRC2012 (train 1 of 12, val 2 of 8; \
                 first: ImageNet_LT_train.txt line 4: train/n01443537/n01443537_5.JPEG); all 3 are \
                 listed in {}; pass --skip-missing to build from the 27 found",
                report.display()
            )
        );
        assert_eq!(
            std::fs::read_to_string(&report).unwrap(),
            "# lt-data build --dataset imagenet-lt: 3 of 30 listed images are not under \
             /data/ILSVRC2012 (layout ilsvrc2012); one `split place path` a line\n\
             train 4 train/n01443537/n01443537_5.JPEG\n\
             val 1 train/n01440764/n01440764_762.JPEG\n\
             val 7 train/n01443537/a b.JPEG\n"
        );
        assert!(!out.exists() && std::fs::read_dir(&staging).unwrap().next().is_none());
        // A later build that succeeds removes it; a file lt-data did not write stays.
        assert!(remove_stale(&out)
            .unwrap()
            .unwrap()
            .contains("inet-lt.missing.txt"));
        assert!(!report.exists());
        std::fs::write(&report, "my notes\n").unwrap();
        assert_eq!(remove_stale(&out).unwrap(), None);
        let e = settle(Some(&r), "imagenet-lt", &out, &staging, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exists and lt-data did not write it"), "{e}");
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "my notes\n");
    }

    #[test]
    fn skipping_lists_them_in_the_dataset_and_counts_them() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("inet-lt");
        let r = resolution();
        let counts = settle(Some(&r), "imagenet-lt", &out, t.path(), true).unwrap();
        assert_eq!(
            counts,
            BTreeMap::from([("train".to_string(), 1), ("val".to_string(), 2)])
        );
        assert_eq!(
            std::fs::read_to_string(t.path().join(FILE)).unwrap(),
            text("imagenet-lt", &r)
        );
        assert!(!beside(&out).exists());
        // Nothing missing, or no lists: nothing written.
        let none = tempfile::tempdir().unwrap();
        let mut whole = r.clone();
        whole.splits.iter_mut().for_each(|s| s.missing.clear());
        for res in [Some(&whole), None] {
            assert!(settle(res, "x", &out, none.path(), false)
                .unwrap()
                .is_empty());
        }
        assert!(std::fs::read_dir(none.path()).unwrap().next().is_none());
        assert_eq!(
            beside(Path::new("data/inet-lt/")),
            Path::new("data/inet-lt.missing.txt")
        );
        assert_eq!(beside(Path::new("x")), Path::new("./x.missing.txt"));
    }
}
