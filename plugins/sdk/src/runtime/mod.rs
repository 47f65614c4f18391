//! The glue behind [`export_plugin!`](crate::export_plugin): the registry of components
//! ([`registry`]), the marshalling between C and Rust values with the panic guard
//! ([`marshal`]), and the `extern "C"` functions of the tables ([`calls`]). Every entry point
//! catches panics.
//!
//! Each plugin library links its own copy of this crate, so the statics are per plugin.

mod calls;
mod calls_v2;
mod marshal;
mod registry;

pub use registry::{abi_version, table, table_v2, Entry, Registry};
