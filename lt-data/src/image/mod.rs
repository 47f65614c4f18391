//! Image decoding and resampling, shared by the builder (source images to stored samples) and
//! the loader's augmentations (stored samples to batch slots).
//!
//! - [`decode`]: JPEG and PNG to pixels: the loader's lenient, optionally reduced-IDCT decoder
//!   and the builder's strict one with its decompression-bomb guard.
//! - [`resample`]: antialiased bilinear (PIL's triangle filter) separable resampling.
//! - [`plane_resize`]: the same filter over one 8-bit plane, in fixed point (the builder).
//! - [`yuv`]: a JPEG's YCbCr planes, resized to 4:2:0 without converting to RGB.
//! - [`encode`]: the builder's JPEG encoder (a restart marker after every MCU), from RGB or
//!   4:2:0 planes.
//! - [`restart`]: random access into such JPEGs (any rectangle of MCUs as a JPEG of its own).
//! - [`region`]: decoding only the rectangle of a JPEG a crop reads.
//! - [`turbo`]: libjpeg-turbo (TurboJPEG): SIMD decoding at a reduced DCT scale, and encoding.
//!
//! The external `image` crate is spelled `::image` inside this module.

pub mod decode;
pub mod encode;
pub mod error;
pub mod plane_resize;
pub mod region;
pub mod resample;
pub mod restart;
pub mod turbo;
pub mod yuv;

pub use decode::{decode_jpeg, decode_png, decode_rgb, reduction, source_dims};
pub use error::DecodeError;
pub use resample::{resample, resample_ordered, resize_rgb, shrink, Plane, Taps};
