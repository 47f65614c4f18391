//! The glue behind [`export_plugin!`](crate::export_plugin): the registry of components
//! ([`registry`]), the marshalling between C and Rust values with the panic guard
//! ([`marshal`]), and the `extern "C"` functions of the tables ([`calls`]). Every entry point
//! catches panics.
//!
//! Each plugin library links its own copy of this crate, so the statics are per plugin.

mod calls;
mod marshal;
mod registry;

pub use registry::{table, Entry, Registry};
