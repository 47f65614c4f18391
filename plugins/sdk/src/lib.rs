//! The plugin ABI of lt-train and the SDK plugin authors write against.
//!
//! A plugin is a `cdylib` crate that implements one or more of the safe traits [`Loss`], [`Head`],
//! [`Sampler`] (ABI version 1), [`FeatureLoss`] and [`Model`] (version 2) against tch, and exports them with one [`export_plugin!`] invocation. The
//! macro generates the two C symbols the host looks for (see [`abi`]) and wraps every call into
//! plugin code in `catch_unwind`, so an `Err` or a panic reaches the host as an error message,
//! never as an unwinding across the C boundary. See `docs/plugin-guide.md` for a walk-through.
//!
//! Helpers every component needs live here too, so no plugin re-writes them: shape checks
//! ([`check`]), copying the stage-1 classifier ([`copy_checked`], [`copy_linear`]), linear
//! initialisation ([`init::linear`]), the cosine classifier and row normalisation ([`cosine`]),
//! class statistics and the LDAM margins ([`prior`]), the learnable-weight-scaling head
//! ([`ScaledLinear`]) and a dataset fixture for unit tests ([`DatasetInfo::for_test`]).

pub mod abi;
pub mod check;
mod component;
mod config;
mod copy;
pub mod cosine;
mod error;
mod export;
mod feature_loss;
mod info;
pub mod init;
mod model;
pub mod prior;
#[doc(hidden)]
pub mod runtime;
mod scaled_linear;

pub use abi::StepCtx;
pub use component::{Head, Loss, MakeFn, MakeSamplerFn, NamedTensor, Sampler};
pub use config::Config;
pub use copy::{copy_checked, copy_linear};
pub use error::{Error, Result};
pub use feature_loss::{FeatureLoss, LossInput, Needs};
pub use info::DatasetInfo;
pub use model::{Model, ModelOutput};
pub use scaled_linear::ScaledLinear;
pub use tch;
