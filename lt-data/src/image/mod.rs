//! Image decoding and resampling, shared by the builder (source images to stored samples) and
//! the loader's augmentations (stored samples to batch slots).
//!
//! - [`decode`]: JPEG and PNG to pixels: the loader's lenient, optionally reduced-IDCT decoder
//!   and the builder's strict one with its decompression-bomb guard.
//! - [`resample`]: antialiased bilinear (PIL's triangle filter) separable resampling.
//! - [`encode`]: the builder's JPEG encoder (a restart marker after every MCU).
//! - [`restart`]: random access into such JPEGs (any rectangle of MCUs as a JPEG of its own).
//! - [`region`]: decoding only the rectangle of a JPEG a crop reads.
//! - [`turbo`]: libjpeg-turbo (TurboJPEG): SIMD decoding at a reduced DCT scale, and encoding.
//!
//! The external `image` crate is spelled `::image` inside this module.

pub mod decode;
pub mod encode;
pub mod error;
pub mod region;
pub mod resample;
pub mod restart;
pub mod turbo;

pub use decode::{decode_jpeg, decode_png, decode_rgb, reduction, source_dims};
pub use error::DecodeError;
pub use resample::{resample, resample_ordered, resize_rgb, shrink, Plane, Taps};
