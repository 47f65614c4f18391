//! Readers of the public raw formats. Each turns a source directory into labelled samples;
//! nothing here chooses a long-tailed subset (that is `split`) or writes files (`build`).
//!
//! Adding a source: its reader in a new file here (`pub fn read(...) -> Result<SourceData>`),
//! its `pub mod` line below, and its variant and `read` arm in [`SourceKind`] (`kind.rs`, the
//! registry); recipes then name it by the variant's spelling.

mod checksums;
mod classes;
mod kind;
pub mod layout;
pub mod resolve;
mod sample;

pub mod cifar;
pub mod folder;
pub mod idx;
pub mod inat;
pub mod listfile;
pub mod readahead;

pub(crate) use checksums::read_recorded;
pub use classes::Classes;
pub use kind::{Request, SourceKind};
pub use layout::RawLayout;
pub use resolve::Resolution;
pub use sample::{Pixels, Sample, SourceData};
