//! Training side of the toolkit: backbones, optimisation, metrics, checkpoints, the plugin host.
//! Every fallible function returns [`Result`], whose [`Error`] has one variant per kind of
//! failure.
#[macro_use]
mod names;

pub mod amp;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod cuda;
pub mod device;
pub mod dist;
pub mod env;
pub mod error;
pub mod infer;
pub mod malloc;
pub mod metrics;
pub mod mixup;
pub mod model;
pub mod ops;
pub mod optim;
pub mod plugin;
pub mod schedule;
pub mod sweep;
pub mod train;
pub mod weights;

pub use error::{Error, Result};
