//! Split lists in the ImageNet-LT / Places-LT / iNaturalist format: one `relative/path.jpg
//! LABEL` a line, paths relative to the image root. These lists *are* the official
//! long-tailed splits, so the reader keeps their order and looks every image up (`resolve`).

use super::layout::RawLayout;
use super::resolve::{check_root, resolve, Entry, Place, Resolution};
use super::{read_recorded, Classes, SourceData};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;

/// Parses a split list into (relative path, label) pairs; blank lines are skipped and a
/// malformed line is an error naming the file and the line number.
pub fn parse(path: &Path) -> Result<Vec<(String, u32)>> {
    Ok(parse_numbered(path)?
        .into_iter()
        .map(|(_, rel, l)| (rel, l))
        .collect())
}

/// As [`parse`], with each entry's 1-based line number.
pub(crate) fn parse_numbered(path: &Path) -> Result<Vec<(usize, String, u32)>> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(text).map_err(|e| {
        Error::format(
            path,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        // The label is the last field; the path is everything before it (it may hold spaces).
        let bad = || {
            Error::format(
                path,
                format!("line {}: expected 'PATH LABEL', got {line:?}", i + 1),
            )
        };
        let (rel, label) = line.rsplit_once(char::is_whitespace).ok_or_else(bad)?;
        let rel = rel.trim_end();
        let label: u32 = label.parse().map_err(|_| bad())?;
        if rel.is_empty() {
            return Err(bad());
        }
        out.push((i + 1, rel.to_string(), label));
    }
    Ok(out)
}

/// Fails on the first entry (in list order) whose label is not one of `classes`.
pub(crate) fn check_labels(
    list: &Path,
    entries: &[(usize, String, u32)],
    classes: &Classes,
) -> Result<()> {
    match entries
        .iter()
        .find(|(_, _, l)| !classes.contains(*l as u64))
    {
        None => Ok(()),
        Some((line, _, l)) => Err(Error::format(
            list,
            format!("line {line}: label {l} is outside {}", classes.describe()),
        )),
    }
}

/// The classes a list implies on its own: the largest label + 1, which may not exceed the
/// number of entries (a stray huge label would otherwise ask for gigabytes of counts).
pub(crate) fn implied_classes(list: &Path, entries: &[(usize, String, u32)]) -> Result<Classes> {
    // The first line holding the largest label.
    let Some((line, _, max)) = entries.iter().rev().max_by_key(|e| e.2) else {
        return Ok(Classes::new(0, "of the list"));
    };
    let k = *max as usize + 1;
    if k > entries.len() {
        return Err(Error::format(
            list,
            format!(
                "line {line}: label {max} would make {k} classes for {} entries; \
                 give --classes K if the list really has that many classes",
                entries.len()
            ),
        ));
    }
    Ok(Classes::new(k, "of the list"))
}

/// Reads train/test(/val) lists of images under `root`, each image looked up by `layout`'s
/// rules. Every label must be one of `classes`; an image found nowhere is not an error here but
/// is left out of the samples and reported in [`SourceData::resolution`]. The class count is the
/// largest label + 1 and class names come from the image folders the lists name.
pub fn read(
    root: &Path,
    layout: RawLayout,
    train: &Path,
    test: &Path,
    val: Option<&Path>,
    classes: &Classes,
) -> Result<SourceData> {
    check_root(root)?;
    let mut lists = Vec::new();
    for (split, list) in [("train", Some(train)), ("test", Some(test)), ("val", val)] {
        let Some(list) = list else { continue };
        let numbered = parse_numbered(list)?;
        check_labels(list, &numbered, classes)?;
        let entries: Vec<Entry> = numbered
            .into_iter()
            .map(|(line, path, label)| Entry {
                place: Place::Line(line),
                path,
                label,
            })
            .collect();
        lists.push((split, list, entries));
    }
    if lists[0].2.is_empty() {
        return Err(Error::format(train, "the training list is empty"));
    }
    let k = lists
        .iter()
        .flat_map(|(_, _, e)| e.iter().map(|e| e.label))
        .max()
        .map_or(0, |m| m as usize + 1);
    let class_names = class_names(
        k,
        lists
            .iter()
            .flat_map(|(_, _, e)| e.iter().map(|e| (e.path.as_str(), e.label))),
    );
    let mut checksums = Vec::new();
    for (_, list, _) in &lists {
        read_recorded(list, &mut checksums)?;
    }
    let mut resolution = Resolution {
        root: root.to_path_buf(),
        layout,
        splits: Vec::new(),
    };
    let mut samples = Vec::new();
    for (split, list, entries) in &lists {
        let (found, report) = resolve(root, layout, split, list, entries);
        samples.push(found);
        resolution.splits.push(report);
    }
    let mut samples = samples.into_iter();
    Ok(SourceData {
        class_names,
        train: samples.next().unwrap_or_default(),
        test: samples.next().unwrap_or_default(),
        val: samples.next(),
        checksums,
        resolution: Some(resolution),
        ..SourceData::default()
    })
}

/// Names classes by the folder holding their images when that folder is the same for every
/// image of a class and differs between classes; otherwise by the label number.
pub(crate) fn class_names<'a>(
    k: usize,
    entries: impl Iterator<Item = (&'a str, u32)>,
) -> Vec<String> {
    let numbers = || (0..k).map(|c| c.to_string()).collect();
    let mut names: Vec<Option<&str>> = vec![None; k];
    for (rel, label) in entries {
        let folder = match rel
            .rsplit_once('/')
            .and_then(|(dir, _)| dir.rsplit('/').next())
        {
            Some(f) if !f.is_empty() => f,
            _ => return numbers(),
        };
        match names[label as usize] {
            None => names[label as usize] = Some(folder),
            Some(n) if n == folder => {}
            Some(_) => return numbers(),
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::with_capacity(k);
    for (c, n) in names.iter().enumerate() {
        match n {
            // A label absent from every list keeps its number.
            None => out.push(c.to_string()),
            Some(n) => {
                if seen.insert(n, c).is_some() {
                    return numbers();
                }
                out.push(n.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Pixels;

    const SPLITS: &str = "../../shared/splits";

    fn k1000() -> Classes {
        Classes::new(1000, "of imagenet-lt")
    }

    fn splits(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(SPLITS)
            .join(name)
    }

    /// (lines, classes, max per class, min per class) of a list.
    fn stats(e: &[(String, u32)]) -> (usize, usize, usize, usize) {
        let k = e.iter().map(|(_, l)| *l as usize + 1).max().unwrap();
        let mut c = vec![0usize; k];
        for (_, l) in e {
            c[*l as usize] += 1;
        }
        (
            e.len(),
            k,
            *c.iter().max().unwrap(),
            *c.iter().min().unwrap(),
        )
    }

    #[test]
    fn parses_the_official_lists() {
        let want = [
            ("Places_LT_train.txt", (62_500, 365, 4_980, 5)),
            ("Places_LT_val.txt", (7_300, 365, 20, 20)),
            ("Places_LT_test.txt", (36_500, 365, 100, 100)),
            ("ImageNet_LT_val.txt", (20_000, 1_000, 20, 20)),
            ("ImageNet_LT_test.txt", (50_000, 1_000, 50, 50)),
            ("iNaturalist18_val.txt", (24_426, 8_142, 3, 3)),
        ];
        for (name, s) in want {
            let e = parse(&splits(name)).unwrap();
            assert_eq!(stats(&e), s, "{name}");
        }
        let e = parse(&splits("ImageNet_LT_test.txt")).unwrap();
        assert_eq!(
            e[0],
            ("val/n01440764/ILSVRC2012_val_00029930.JPEG".to_string(), 0)
        );
        // Class names from the folders: WordNet ids, Places scene names, iNat ids.
        let names = class_names(1000, e.iter().map(|(r, l)| (r.as_str(), *l)));
        assert_eq!(names[0], "n01440764");
        let p = parse(&splits("Places_LT_test.txt")).unwrap();
        assert_eq!(
            class_names(365, p.iter().map(|(r, l)| (r.as_str(), *l)))[0],
            "airfield"
        );
        let i = parse(&splits("iNaturalist18_val.txt")).unwrap();
        assert_eq!(
            class_names(8142, i.iter().map(|(r, l)| (r.as_str(), *l)))[7291],
            "7291"
        );
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("list.txt");
        std::fs::write(&f, "a/x.jpg 0\n\n  \nb/y z.jpg 1\r\n").unwrap();
        assert_eq!(
            parse(&f).unwrap(),
            vec![("a/x.jpg".into(), 0), ("b/y z.jpg".into(), 1)]
        );
        for (text, line) in [
            ("a/x.jpg 0\nb/y.jpg\n", 2),
            ("a/x.jpg 0\n\nb/y.jpg -1\n", 3),
            ("a.jpg x\n", 1),
        ] {
            std::fs::write(&f, text).unwrap();
            let e = parse(&f).unwrap_err().to_string();
            assert!(
                e.contains("list.txt") && e.contains(&format!("line {line}:")),
                "{e}"
            );
        }
    }

    fn tree(t: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let root = t.join("images");
        for p in [
            "train/cat/1.jpg",
            "train/cat/2.jpg",
            "train/dog/3.jpg",
            "val/cat/4.jpg",
            "val/dog/5.jpg",
        ] {
            std::fs::create_dir_all(root.join(p).parent().unwrap()).unwrap();
            std::fs::write(root.join(p), b"jpeg").unwrap();
        }
        let (tr, te, va) = (t.join("train.txt"), t.join("test.txt"), t.join("val.txt"));
        std::fs::write(
            &tr,
            "train/cat/1.jpg 0\ntrain/dog/3.jpg 1\ntrain/cat/2.jpg 0\n",
        )
        .unwrap();
        std::fs::write(&te, "val/cat/4.jpg 0\nval/dog/5.jpg 1\n").unwrap();
        std::fs::write(&va, "train/dog/3.jpg 1\n").unwrap();
        (root, tr, te)
    }

    #[test]
    fn reads_an_image_tree_with_lists() {
        let t = tempfile::tempdir().unwrap();
        let (root, tr, te) = tree(t.path());
        let va = t.path().join("val.txt");
        let d = read(&root, RawLayout::AsListed, &tr, &te, Some(&va), &k1000()).unwrap();
        assert_eq!(d.class_names, ["cat", "dog"]);
        assert_eq!(
            d.train.iter().map(|s| s.label).collect::<Vec<_>>(),
            [0, 1, 0]
        );
        assert_eq!(
            d.train[1].pixels,
            Pixels::File(root.join("train/dog/3.jpg"))
        );
        assert_eq!(d.test.len(), 2);
        assert_eq!(d.val.as_ref().unwrap().len(), 1);
        assert_eq!(d.checksums.len(), 3);
        // A folder shared by two labels: names fall back to numbers.
        std::fs::write(&te, "val/cat/4.jpg 0\nval/cat/4.jpg 1\n").unwrap();
        assert_eq!(
            read(&root, RawLayout::AsListed, &tr, &te, None, &k1000())
                .unwrap()
                .class_names,
            ["0", "1"]
        );
    }

    #[test]
    fn labels_outside_the_classes_are_errors_before_any_allocation() {
        let t = tempfile::tempdir().unwrap();
        let (root, tr, te) = tree(t.path());
        for label in ["1000", "2000000000", "4294967295"] {
            std::fs::write(
                &tr,
                format!("train/cat/1.jpg 0\n\ntrain/dog/3.jpg {label}\ntrain/cat/2.jpg 0\n"),
            )
            .unwrap();
            let e = read(&root, RawLayout::AsListed, &tr, &te, None, &k1000())
                .unwrap_err()
                .to_string();
            assert!(
                e.ends_with(&format!(
                    "train.txt: line 3: label {label} is outside the 1000 classes of imagenet-lt"
                )),
                "{e}"
            );
        }
        // The test list is held to the same classes.
        std::fs::write(&tr, "train/cat/1.jpg 0\n").unwrap();
        std::fs::write(&te, "val/cat/4.jpg 0\nval/dog/5.jpg 1\n").unwrap();
        let e = read(
            &root,
            RawLayout::AsListed,
            &tr,
            &te,
            None,
            &Classes::new(1, "of one"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("test.txt: line 2: label 1 is outside the 1 classes of one"),
            "{e}"
        );
    }

    #[test]
    fn a_list_alone_implies_at_most_one_class_per_entry() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("LIST");
        std::fs::write(&f, "a 0\nb 7\nc 2\nd 7\ne 1\n").unwrap();
        let e = implied_classes(&f, &parse_numbered(&f).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("LIST: line 2: label 7 would make 8 classes for 5 entries")
                && e.contains("--classes"),
            "{e}"
        );
        std::fs::write(&f, "a 0\nb 4\nc 2\nd 4\ne 1\n").unwrap();
        let k = implied_classes(&f, &parse_numbered(&f).unwrap()).unwrap();
        assert_eq!(k.count, 5);
        std::fs::write(&f, "\n").unwrap();
        assert_eq!(implied_classes(&f, &[]).unwrap().count, 0);
    }

    #[test]
    fn missing_images_are_left_out_and_reported() {
        let t = tempfile::tempdir().unwrap();
        let (root, tr, te) = tree(t.path());
        std::fs::write(&te, "val/cat/4.jpg 0\n\nval/dog/6.jpg 1\nval/dog/7.jpg 1\n").unwrap();
        let d = read(&root, RawLayout::AsListed, &tr, &te, None, &k1000()).unwrap();
        assert_eq!(d.test.len(), 1);
        // Class names still come from every listed path.
        assert_eq!(d.class_names, ["cat", "dog"]);
        let r = d.resolution.unwrap();
        assert_eq!((r.listed(), r.missing()), (6, 2));
        let test = &r.splits[1];
        assert_eq!(
            (test.split.as_str(), test.listed, test.found()),
            ("test", 3, 1)
        );
        assert_eq!(
            test.missing
                .iter()
                .map(|m| (m.place, m.path.as_str()))
                .collect::<Vec<_>>(),
            [
                (Place::Line(3), "val/dog/6.jpg"),
                (Place::Line(4), "val/dog/7.jpg")
            ]
        );
        let e = read(
            &t.path().join("nope"),
            RawLayout::AsListed,
            &tr,
            &te,
            None,
            &k1000(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nope"), "{e}");
    }
}
