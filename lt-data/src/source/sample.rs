//! What a source reader returns: labelled samples, as pixels or as files to decode, and what
//! it knows of the classes.

use super::resolve::Resolution;
use std::path::PathBuf;

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
    /// List sources: what looking up every listed image found, missing images included.
    pub resolution: Option<Resolution>,
}
