//! Why one sample cannot be augmented.

use crate::image::DecodeError;

/// A one-line problem of one sample; the loader adds the split file and the sample index.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SampleError {
    /// The stored bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A raw sample whose length is not height x width x channels.
    #[error("raw sample has {got} bytes, expected {want}")]
    RawSize { got: usize, want: usize },
    /// A decoded image that is neither grey nor RGB.
    #[error("image has {0} channels, expected 1 or 3")]
    Channels(usize),
    /// The CIFAR pipeline given an encoded split.
    #[error("cifar augmentation needs a raw split")]
    NotRaw,
    /// Parameters drawn for another pipeline.
    #[error("augmentation parameters do not match the recipe")]
    ParamsMismatch,
}

/// Checks that a raw sample holds exactly `h * w * c` bytes.
pub(super) fn check_raw(sample: &[u8], h: usize, w: usize, c: usize) -> Result<(), SampleError> {
    if sample.len() != h * w * c {
        return Err(SampleError::RawSize {
            got: sample.len(),
            want: h * w * c,
        });
    }
    Ok(())
}
