//! One error type for the data side. Every variant names the file it is about, so the
//! CLI can print a single line such as `lt-data: data/train.ltd: truncated (...)`.

use std::path::{Path, PathBuf};

/// Errors of building, reading and verifying datasets.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        // Not `#[source]`: the message already carries it, and `{:#}` would print it twice.
        source: std::io::Error,
    },
    /// A file whose content is not what its format promises.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A request that cannot be satisfied (bad flag value, unknown dataset...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
