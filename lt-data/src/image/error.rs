//! Why a stored sample's bytes are not an image the loader can read.

/// A decoding failure of one sample; the loader adds the split file and the sample index.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// The JPEG stream is malformed, truncated or has no frame header.
    #[error("corrupt JPEG: {0}")]
    CorruptJpeg(String),
    /// The JPEG decodes to a pixel format other than RGB or grey.
    #[error("unsupported JPEG pixel format {0}")]
    UnsupportedJpeg(String),
    /// The PNG stream is malformed.
    #[error("corrupt PNG: {0}")]
    CorruptPng(String),
}
