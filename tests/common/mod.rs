//! Shared by the end-to-end tests: each test file says `mod common;` and imports what it uses.
//!
//! cargo builds everything these tests run before it runs them: the `lt-data` and `lt-train`
//! binaries (targets of this root package, `CARGO_BIN_EXE_*`) and the plugin libraries (its
//! dev-dependencies, whose `.so` files land next to the test executable; `plugins_dir`).
#![allow(dead_code)]

mod lt_data;
mod lt_train;
mod paths;
mod sources;
mod torchvision;

// Each test file uses only some of these.
#[allow(unused_imports)]
pub use self::{lt_data::*, lt_train::*, paths::*, sources::*, torchvision::*};
