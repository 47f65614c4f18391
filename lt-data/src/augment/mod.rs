//! Augmentations that turn one stored sample into one slot of a batch.
//!
//! Two pipelines, each with a train and an eval form, matching torchvision's:
//! - [`cifar`]: zero-pad, random crop back to the stored size, horizontal flip, normalise.
//! - [`imagenet`]: random-resized-crop (scale 0.08-1, ratio 3/4-4/3), flip, [`colour`] jitter
//!   0.4, normalise; eval resizes the shorter side to 256 and centre-crops 224.
//!
//! Geometry is fused: the crop, the flip and the (antialiased bilinear, as PIL) resize are one
//! resampling pass ([`crate::image::resample`]) reading straight from the memory-mapped bytes
//! or the decoded JPEG, so no intermediate full-size image is built; `crop_source` decodes
//! only what a crop reads (the DCT scale it allows, the rectangle or MCUs under it). Output is normalised float CHW, or uint8 HWC for on-device normalisation.
//!
//! A new pipeline is one file here (its parameter draw and its application), a variant of
//! [`Pipeline`] (the name manifests and recipes use) and of [`Kind`], and one arm in
//! [`Augment::params`] / [`Augment::apply_params`].
//!
//! ```
//! use lt_data::augment::{Augment, OutSlice, Pipeline};
//! use lt_data::format::Layout;
//! use lt_data::rng::Rng;
//! let aug = Augment::for_pipeline("cifar".parse::<Pipeline>().unwrap(), true).uint8();
//! let layout = Layout::Raw { height: 32, width: 32, channels: 3 };
//! let mut out = vec![0u8; aug.sample_elems(layout).unwrap()];
//! aug.apply(&[7u8; 3072], layout, &mut Rng::new(0), &mut aug.scratch(), OutSlice::U8(&mut out))
//!     .unwrap();
//! ```

mod apply;
pub mod cifar;
pub mod colour;
mod crop_source;
mod error;
pub mod imagenet;
mod pipeline;
mod spec;
#[cfg(test)]
mod testutil;

pub use apply::{OutSlice, Params, Scratch};
pub use colour::{color_jitter, Jitter};
pub use error::SampleError;
pub use imagenet::{random_resized_crop_box, resized_shorter, Crop, Geometry};
pub use pipeline::Pipeline;
pub use spec::{
    Augment, Dtype, Kind, Output, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD,
};
