//! Why a byte stream is not a pickle this reader accepts.

/// A stream the reader refuses: truncated, corrupt, unsupported, or beyond a limit (nesting
/// depth, copies of shared objects). `offset` is the byte where it stopped.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("pickle: {msg} (at byte {offset})")]
pub struct PickleError {
    pub offset: usize,
    pub msg: String,
}

/// [`super::NdArray::to_i64`] on an array whose elements are not integers.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("array of dtype {dtype} is not an integer array")]
pub struct NotIntegers {
    pub dtype: String,
}
