//! Long-tailed datasets: read public raw formats, carve long-tailed splits, store them as
//! memory-mapped split files, and load batches from them.
//!
//! Data flows one way: `source` -> `split` -> `builder` (with `format::Writer`) -> split files
//! -> `format::Reader` -> `sampler` -> `loader` -> batches.

pub mod augment;
pub mod bench;
pub mod builder;
pub mod dataset;
pub mod error;
pub mod format;
pub mod image;
pub mod inspect;
pub mod loader;
pub mod manifest;
pub mod missing;
mod names;
pub mod ordered;
pub mod output;
pub mod pickle;
pub mod plot;
pub mod recipe;
pub mod rng;
pub mod sampler;
pub mod source;
pub mod split;
pub mod stages;
pub mod stats;
pub mod test_shift;
#[cfg(test)]
mod testutil;
pub mod transcode;

pub use error::{Error, Result};
