//! iNaturalist 2018's COCO-style annotations (`train2018.json`, `val2018.json`): `images`
//! with `id` and `file_name` (relative to the image root), `annotations` joining `image_id`
//! to `category_id`, and `categories` with `id` and `name`. The official long-tailed
//! protocol evaluates on `val2018.json`, so it becomes the test split here.

use super::listfile::check_exist;
use super::{Pixels, Sample, SourceData};
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
/// dense (0..K-1), and every listed image must exist under `root`.
pub fn read(root: &Path, train_json: &Path, val_json: &Path) -> Result<SourceData> {
    let mut checksums = Vec::new();
    let train = load(train_json, &mut checksums)?;
    let val = load(val_json, &mut checksums)?;
    // val2018.json repeats the categories; the training file is the reference.
    let cats = if train.categories.is_empty() {
        &val.categories
    } else {
        &train.categories
    };
    if cats.is_empty() {
        return Err(Error::format(train_json, "no categories"));
    }
    let k = cats.len();
    let mut class_names = vec![None; k];
    for c in cats {
        let slot = class_names.get_mut(c.id as usize).ok_or_else(|| {
            Error::format(
                train_json,
                format!("category id {} is outside 0..{k}: ids are not dense", c.id),
            )
        })?;
        if slot.is_some() {
            return Err(Error::format(
                train_json,
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
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    checksums.push((name, format!("{:08x}", crc32fast::hash(&bytes))));
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
    check_exist(root, path, &entries)?;
    Ok(entries
        .into_iter()
        .map(|(rel, label)| Sample {
            label,
            pixels: Pixels::File(root.join(rel)),
        })
        .collect())
}
