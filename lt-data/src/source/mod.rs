//! Readers of the public raw formats. Each turns a source directory into labelled samples;
//! nothing here chooses a long-tailed subset (that is `split`) or writes files (`build`).

use std::path::PathBuf;

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod inat;
pub mod listfile;

/// The pixels of one sample, as the source holds them.
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    /// Already-decoded uint8 pixels, height x width x channels (CIFAR, IDX).
    Raw {
        height: u32,
        width: u32,
        channels: u32,
        data: Vec<u8>,
    },
    /// An encoded image on disk (JPEG/PNG trees), decoded by the builder.
    File(PathBuf),
}

/// One labelled sample of a source split.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub label: u32,
    pub pixels: Pixels,
}

/// What a source reader returns: the splits it found and what it knows of the classes.
#[derive(Clone, Debug, Default)]
pub struct SourceData {
    /// Class names in label order; its length is the number of classes.
    pub class_names: Vec<String>,
    pub train: Vec<Sample>,
    pub test: Vec<Sample>,
    /// A validation split when the source has one (ImageNet-LT, Places-LT, iNaturalist).
    pub val: Option<Vec<Sample>>,
    /// CIFAR-100: coarse (super-class) label of each fine class, and the coarse names.
    pub coarse_of_class: Option<Vec<u32>>,
    pub coarse_names: Option<Vec<String>>,
    /// (file name, CRC-32 hex) of every source file read, for the manifest.
    pub checksums: Vec<(String, String)>,
}

/// The classes a source's labels must fall in: `count` of them, and whose count it is, for
/// messages such as `label 255 of item 17 is outside the 10 classes of fashion-mnist`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    pub count: usize,
    /// Completes "the N classes ...": `of fashion-mnist`, `given by --classes`.
    pub whose: String,
}

impl Classes {
    pub fn new(count: usize, whose: impl Into<String>) -> Self {
        Classes {
            count,
            whose: whose.into(),
        }
    }

    /// Whether `label` names one of the classes.
    pub fn contains(&self, label: u64) -> bool {
        label < self.count as u64
    }

    /// `the 10 classes of fashion-mnist`.
    pub fn describe(&self) -> String {
        format!("the {} classes {}", self.count, self.whose)
    }
}
