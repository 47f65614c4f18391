//! iNaturalist 2018's COCO-style annotations (`train2018.json`, `val2018.json`): `images`
//! with `id` and `file_name` (relative to the image root), `annotations` joining `image_id`
//! to `category_id`, and `categories` with `id` and `name`. The official long-tailed
//! protocol evaluates on `val2018.json`, so it becomes the test split here.

use super::listfile::check_exist;
use super::{read_recorded, Classes, Pixels, Sample, SourceData};
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
/// dense (0..K-1) and among `classes`, and every listed image must exist under `root`.
pub fn read(
    root: &Path,
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
    let train_s = samples(root, train_json, &train, k)?;
    let test_s = samples(root, val_json, &val, k)?;
    Ok(SourceData {
        class_names,
        train: train_s,
        test: test_s,
        val: None,
        coarse_of_class: None,
        coarse_names: None,
        checksums,
    })
}

fn load(path: &Path, checksums: &mut Vec<(String, String)>) -> Result<Coco> {
    let bytes = read_recorded(path, checksums)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(path, format!("not iNaturalist JSON: {e}")))
}

/// Samples in `images` order, each labelled by its single annotation.
fn samples(root: &Path, path: &Path, coco: &Coco, k: usize) -> Result<Vec<Sample>> {
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
    for im in &coco.images {
        let label = *label_of.get(&im.id).ok_or_else(|| {
            Error::format(
                path,
                format!("image {} ({}) has no annotation", im.id, im.file_name),
            )
        })?;
        entries.push((im.file_name.clone(), label));
    }
    check_exist(root, path, &entries, |i| {
        format!("images[{i}] (id {})", coco.images[i].id)
    })?;
    Ok(entries
        .into_iter()
        .map(|(rel, label)| Sample {
            label,
            pixels: Pixels::File(root.join(rel)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let d = read(t.path(), &train, &val, &k3()).unwrap();
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
    fn bad_annotations_are_named_errors() {
        let t = tempfile::tempdir().unwrap();
        let (train, val) = setup(t.path());
        let imgs = [(10, "train_val2018/Plantae/0/a.jpg", 0)];
        // Files rewritten, declared classes, what the error names; each case keeps the files the
        // earlier ones wrote.
        type Case<'a> = (Vec<(&'a Path, String)>, Classes, &'a [&'a str]);
        let cases: [Case; 5] = [
            // Category ids with a hole: 0, 1, 5.
            (
                vec![(
                    train.as_path(),
                    coco(&imgs, &[(0, "a"), (1, "b"), (5, "c")]),
                )],
                Classes::new(8142, "of inat2018"),
                &["train2018.json", "not dense"],
            ),
            // An image that is not on disk.
            (
                vec![(
                    train.as_path(),
                    coco(&[(10, "train_val2018/Plantae/0/zz.jpg", 0)], &CATS),
                )],
                k3(),
                &["train2018.json: images[0] (id 10): missing image", "zz.jpg"],
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
            let e = read(t.path(), &train, &val, &classes)
                .unwrap_err()
                .to_string();
            assert!(want.iter().all(|w| e.contains(w)), "{e}");
        }
    }
}
