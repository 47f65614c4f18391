//! The registry of sources: [`SourceKind`] names every reader a recipe can choose, and
//! [`SourceKind::read`] is the one place that dispatches to them. A new source is a reader
//! file, a variant here, and its lines in [`SourceKind::ALL`], [`SourceKind::name`] (its
//! spelling in recipes) and [`SourceKind::read`].

use super::{cifar, folder, idx, inat, listfile, Classes, RawLayout, SourceData};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The reader of a recipe's raw files (`source = "..."` in `datasets/*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SourceKind {
    /// CIFAR-10, python pickles or binary batches.
    Cifar10,
    /// CIFAR-100, python pickles or binary batches (fine and coarse labels).
    Cifar100,
    /// MNIST-style IDX files (MNIST, Fashion-MNIST).
    Idx,
    /// Image lists `relative/path.jpg label` (ImageNet-LT, Places-LT).
    List,
    /// iNaturalist's COCO-style JSON files, or split lists given with `--split-file`.
    Inat,
    /// A class-per-folder image tree (ImageFolder convention).
    Folder,
}

impl SourceKind {
    /// Every source, in the order messages list them.
    pub const ALL: [SourceKind; 6] = [
        SourceKind::Cifar10,
        SourceKind::Cifar100,
        SourceKind::Idx,
        SourceKind::List,
        SourceKind::Inat,
        SourceKind::Folder,
    ];

    /// The spelling recipes use.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Cifar10 => "cifar10",
            SourceKind::Cifar100 => "cifar100",
            SourceKind::Idx => "idx",
            SourceKind::List => "list",
            SourceKind::Inat => "inat",
            SourceKind::Folder => "folder",
        }
    }

    /// Reads the source a build asks for with this kind's reader.
    pub fn read(self, req: &Request) -> Result<SourceData> {
        let src = req.src;
        match self {
            SourceKind::Cifar10 => cifar::read(src, cifar::Variant::Cifar10),
            SourceKind::Cifar100 => cifar::read(src, cifar::Variant::Cifar100),
            SourceKind::Idx => idx::read_within(src, &req.classes()?),
            SourceKind::Folder => folder::read(src),
            SourceKind::List => req.lists(req.train_list.as_deref()),
            SourceKind::Inat if req.split_file.is_some() => req.lists(req.split_file.as_deref()),
            SourceKind::Inat => {
                let train = req.recipe_file(&req.train_json, "train_json")?;
                let test = req.recipe_file(&req.test_json, "test_json")?;
                inat::read(src, req.layout, train, test, &req.classes()?)
            }
        }
    }
}

impl FromStr for SourceKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        crate::names::find(&Self::ALL, Self::name, s, || {
            format!("unknown source '{s}'")
        })
    }
}

impl TryFrom<String> for SourceKind {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<SourceKind> for String {
    fn from(k: SourceKind) -> String {
        k.name().to_string()
    }
}

/// What a build hands a reader besides the kind: the directory, the classes its recipe
/// declares, and each list file already chosen (the command line's, else the recipe's under
/// the source directory).
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub src: &'a Path,
    /// The recipe's name, for messages.
    pub recipe: &'a str,
    /// The classes every label must fall in; `None` when the recipe declares none (folder).
    pub classes: Option<Classes>,
    /// Where the listed images may lie under `src` (the recipe's `layout`).
    pub layout: RawLayout,
    /// `--split-file` as given: an `inat` source reads split lists instead of its JSON files.
    pub split_file: Option<PathBuf>,
    pub train_list: Option<PathBuf>,
    pub test_list: Option<PathBuf>,
    /// The validation list, when given or present.
    pub val_list: Option<PathBuf>,
    pub train_json: Option<PathBuf>,
    pub test_json: Option<PathBuf>,
}

impl Request<'_> {
    fn classes(&self) -> Result<Classes> {
        self.classes.clone().ok_or_else(|| {
            Error::invalid(format!("recipe '{}' declares no num_classes", self.recipe))
        })
    }

    /// A file the recipe itself must name (`key` in its TOML).
    fn recipe_file<'p>(&self, file: &'p Option<PathBuf>, key: &str) -> Result<&'p Path> {
        file.as_deref()
            .ok_or_else(|| Error::invalid(format!("recipe '{}' names no {key}", self.recipe)))
    }

    /// Reads train/test(/val) image lists, `train` being the training list.
    fn lists(&self, train: Option<&Path>) -> Result<SourceData> {
        let train =
            train.ok_or_else(|| Error::invalid("--split-file is required for this dataset"))?;
        let test = self.test_list.as_deref().ok_or_else(|| {
            Error::invalid("--test-file is required with --split-file for this dataset")
        })?;
        listfile::read(
            self.src,
            self.layout,
            train,
            test,
            self.val_list.as_deref(),
            &self.classes()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in SourceKind::ALL {
            let name = k.name();
            assert_eq!(name.parse::<SourceKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{name}\""));
        }
        let e = "cifar".parse::<SourceKind>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown source 'cifar' (known: cifar10, cifar100, idx, list, inat, folder)"
        );
    }
}
