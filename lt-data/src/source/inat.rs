//! iNaturalist 2018's COCO-style annotations (`train2018.json`, `val2018.json`): `images`
//! with `id` and `file_name` (relative to the image root), `annotations` joining `image_id`
//! to `category_id`, and `categories` with `id` and `name`. The official long-tailed
//! protocol evaluates on `val2018.json`, so it becomes the test split here.

use super::layout::RawLayout;
use super::resolve::{check_root, resolve, Entry, Place, Resolution, SplitReport};
use super::{read_recorded, Classes, Sample, SourceData};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

#[derive(Deserialize)]
struct Coco {
    images: Vec<Image>,
    annotations: Vec<Annotation>,
    #[serde(default)]
    categories: Vec<Category>,
}

#[derive(Deserialize)]
struct Image {
    id: u64,
    file_name: String,
}

#[derive(Deserialize)]
struct Annotation {
    image_id: u64,
    category_id: u64,
}

#[derive(Deserialize)]
struct Category {
    id: u64,
    name: String,
}

/// Reads the train and val annotation files; labels are the category ids, which must be
/// dense (0..K-1) and among `classes`. Every image is looked up under `root` by `layout`'s
/// rules; one found nowhere is left out and reported in [`SourceData::resolution`].
pub fn read(
    root: &Path,
    layout: RawLayout,
    train_json: &Path,
    val_json: &Path,
    classes: &Classes,
) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let train = load(train_json, &mut checksums)?;
    let val = load(val_json, &mut checksums)?;
    // val2018.json repeats the categories; the training file is the reference.
    let (cats, cats_file) = if train.categories.is_empty() {
        (&val.categories, val_json)
    } else {
        (&train.categories, train_json)
    };
    if cats.is_empty() {
        return Err(Error::format(train_json, "no categories"));
    }
    if let Some(c) = cats.iter().find(|c| !classes.contains(c.id)) {
        return Err(Error::format(
            cats_file,
            format!("category id {} is outside {}", c.id, classes.describe()),
        ));
    }
    let k = cats.len();
    let mut class_names = vec![None; k];
    for c in cats {
        let slot = class_names.get_mut(c.id as usize).ok_or_else(|| {
            Error::format(
                cats_file,
                format!("category id {} is outside 0..{k}: ids are not dense", c.id),
            )
        })?;
        if slot.is_some() {
            return Err(Error::format(
                cats_file,
                format!("category id {} appears twice", c.id),
            ));
        }
        *slot = Some(c.name.clone());
    }
    let class_names: Vec<String> = class_names
        .into_iter()
        .map(|n| n.unwrap_or_default())
        .collect();
    check_root(root)?;
    let (train_s, train_r) = samples(root, layout, "train", train_json, &train, k)?;
    let (test_s, test_r) = samples(root, layout, "test", val_json, &val, k)?;
    Ok(SourceData {
        class_names,
        train: train_s,
        test: test_s,
        checksums,
        resolution: Some(Resolution {
            root: root.to_path_buf(),
            layout,
            splits: vec![train_r, test_r],
        }),
        ..SourceData::default()
    })
}

fn load(path: &Path, checksums: &mut Vec<(String, String)>) -> Result<Coco> {
    let bytes = read_recorded(path, checksums)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(path, format!("not iNaturalist JSON: {e}")))
}

/// Samples in `images` order, each labelled by its single annotation, and the report of split
/// `split` (`path`'s images looked up under `root`).
fn samples(
    root: &Path,
    layout: RawLayout,
    split: &str,
    path: &Path,
    coco: &Coco,
    k: usize,
) -> Result<(Vec<Sample>, SplitReport)> {
    let mut label_of: HashMap<u64, u32> = HashMap::with_capacity(coco.annotations.len());
    for a in &coco.annotations {
        if a.category_id as usize >= k {
            return Err(Error::format(
                path,
                format!(
                    "image {} has category_id {} outside 0..{k}",
                    a.image_id, a.category_id
                ),
            ));
        }
        if label_of.insert(a.image_id, a.category_id as u32).is_some() {
            return Err(Error::format(
                path,
                format!("image {} has more than one annotation", a.image_id),
            ));
        }
    }
    let mut entries = Vec::with_capacity(coco.images.len());
    for (index, im) in coco.images.iter().enumerate() {
        let label = *label_of.get(&im.id).ok_or_else(|| {
            Error::format(
                path,
                format!("image {} ({}) has no annotation", im.id, im.file_name),
            )
        })?;
        entries.push(Entry {
            place: Place::Image { index, id: im.id },
            path: im.file_name.clone(),
            label,
        });
    }
    Ok(resolve(root, layout, split, path, &entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Pixels;
    use serde_json::json;

    fn category(id: u64, name: &str) -> serde_json::Value {
        json!({"supercategory": "Plantae", "kingdom": "Plantae", "phylum": "Tracheophyta",
               "class": "Pinopsida", "order": "Pinales", "family": "Pinaceae", "genus": "Abies",
               "id": id, "name": name})
    }

    fn image(id: u64, file: &str) -> serde_json::Value {
        json!({"license": 3, "file_name": file, "rights_holder": "someone", "height": 800,
               "width": 600, "id": id})
    }

    /// An iNaturalist 2018 annotation file: (image id, file, category) triples.
    fn coco(images: &[(u64, &str, u64)], cats: &[(u64, &str)]) -> String {
        json!({
            "info": {"year": 2018, "version": "1.0", "description": "iNat2018"},
            "images": images.iter().map(|(id, f, _)| image(*id, f)).collect::<Vec<_>>(),
            "annotations": images.iter().enumerate()
                .map(|(i, (id, _, c))| json!({"id": i, "image_id": id, "category_id": c}))
                .collect::<Vec<_>>(),
            "categories": cats.iter().map(|(id, n)| category(*id, n)).collect::<Vec<_>>(),
            "licenses": [{"url": "http://creativecommons.org/licenses/by/4.0/", "id": 3, "name": "CC BY 4.0"}],
        })
        .to_string()
    }

    fn k3() -> Classes {
        Classes::new(3, "of abies")
    }

    const CATS: [(u64, &str); 3] = [
        (2, "Abies grandis"),
        (0, "Abies concolor"),
        (1, "Abies magnifica"),
    ];

    fn setup(t: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        for f in [
            "train_val2018/Plantae/0/a.jpg",
            "train_val2018/Plantae/2/b.jpg",
            "train_val2018/Plantae/1/c.jpg",
        ] {
            std::fs::create_dir_all(t.join(f).parent().unwrap()).unwrap();
            std::fs::write(t.join(f), b"jpeg").unwrap();
        }
        let train = t.join("train2018.json");
        let val = t.join("val2018.json");
        std::fs::write(
            &train,
            coco(
                &[
                    (10, "train_val2018/Plantae/0/a.jpg", 0),
                    (11, "train_val2018/Plantae/2/b.jpg", 2),
                ],
                &CATS,
            ),
        )
        .unwrap();
        std::fs::write(
            &val,
            coco(&[(20, "train_val2018/Plantae/1/c.jpg", 1)], &CATS),
        )
        .unwrap();
        (train, val)
    }

    #[test]
    fn reads_inat2018_json() {
        let t = tempfile::tempdir().unwrap();
        let (train, val) = setup(t.path());
        let d = read(t.path(), RawLayout::Inat2018, &train, &val, &k3()).unwrap();
        assert_eq!(
            d.class_names,
            ["Abies concolor", "Abies magnifica", "Abies grandis"]
        );
        assert_eq!(d.train.iter().map(|s| s.label).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(
            d.train[1].pixels,
            Pixels::File(t.path().join("train_val2018/Plantae/2/b.jpg"))
        );
        assert_eq!((d.test.len(), d.test[0].label), (1, 1));
        assert!(d.val.is_none());
        assert_eq!(
            d.checksums.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["train2018.json", "val2018.json"]
        );
    }

    #[test]
    fn the_root_may_be_train_val2018_and_missing_images_are_reported() {
        let t = tempfile::tempdir().unwrap();
        let (train, val) = setup(t.path());
        std::fs::write(
            &train,
            coco(
                &[
                    (10, "train_val2018/Plantae/0/a.jpg", 0),
                    (12, "train_val2018/Plantae/0/zz.jpg", 0),
                    (11, "train_val2018/Plantae/2/b.jpg", 2),
                ],
                &CATS,
            ),
        )
        .unwrap();
        let at = t.path().join("train_val2018");
        let d = read(&at, RawLayout::Inat2018, &train, &val, &k3()).unwrap();
        assert_eq!(d.train.iter().map(|s| s.label).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(d.train[0].pixels, Pixels::File(at.join("Plantae/0/a.jpg")));
        let r = d.resolution.unwrap();
        assert_eq!(r.splits[0].found_by, [("the root is train_val2018/", 2)]);
        assert_eq!(r.splits[0].missing.len(), 1);
        assert_eq!(
            r.splits[0].missing[0].place,
            Place::Image { index: 1, id: 12 }
        );
        assert_eq!(
            r.splits[0].missing[0].path,
            "train_val2018/Plantae/0/zz.jpg"
        );
        assert_eq!(
            (r.splits[1].split.as_str(), r.splits[1].found()),
            ("test", 1)
        );
        // Without the layout, only the paths as written: nothing is found at train_val2018.
        let d = read(&at, RawLayout::AsListed, &train, &val, &k3()).unwrap();
        assert!(d.train.is_empty());
        assert_eq!(d.resolution.unwrap().missing(), 4);
    }

    #[test]
    fn bad_annotations_are_named_errors() {
        let t = tempfile::tempdir().unwrap();
        let (train, val) = setup(t.path());
        let imgs = [(10, "train_val2018/Plantae/0/a.jpg", 0)];
        // Files rewritten, declared classes, what the error names; each case keeps the files the
        // earlier ones wrote.
        type Case<'a> = (Vec<(&'a Path, String)>, Classes, &'a [&'a str]);
        let cases: [Case; 4] = [
            // Category ids with a hole: 0, 1, 5.
            (
                vec![(
                    train.as_path(),
                    coco(&imgs, &[(0, "a"), (1, "b"), (5, "c")]),
                )],
                Classes::new(8142, "of inat2018"),
                &["train2018.json", "not dense"],
            ),
            // A category beyond the list.
            (
                vec![
                    (train.as_path(), coco(&imgs, &CATS)),
                    (
                        val.as_path(),
                        coco(&[(20, "train_val2018/Plantae/1/c.jpg", 3)], &CATS),
                    ),
                ],
                k3(),
                &["val2018.json", "category_id 3 outside 0..3"],
            ),
            // A category beyond the declared classes, even with dense ids.
            (
                vec![(
                    val.as_path(),
                    coco(&[(20, "train_val2018/Plantae/1/c.jpg", 1)], &CATS),
                )],
                Classes::new(2, "of two"),
                &["train2018.json: category id 2 is outside the 2 classes of two"],
            ),
            (
                vec![(val.as_path(), "{\"images\": [".to_string())],
                k3(),
                &["val2018.json", "not iNaturalist JSON"],
            ),
        ];
        for (files, classes, want) in cases {
            for (path, content) in files {
                std::fs::write(path, content).unwrap();
            }
            let e = read(t.path(), RawLayout::Inat2018, &train, &val, &classes)
                .unwrap_err()
                .to_string();
            assert!(want.iter().all(|w| e.contains(w)), "{e}");
        }
    }
}
