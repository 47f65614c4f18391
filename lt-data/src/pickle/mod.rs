//! A small, safe unpickler: enough of Python's pickle format (protocols 0 to 5) to read the
//! CIFAR python batches without Python. Nothing is ever executed: the few callables that
//! build plain data (`_codecs.encode`, numpy's `_reconstruct`, `dtype`, `_frombuffer`,
//! `scalar`, `bytearray`, `set`) are interpreted, every other object becomes an opaque
//! [`Value::Object`] holding its arguments and state.
//!
//! ```
//! use lt_data::pickle::{loads, Value};
//! // pickle.dumps({'labels': [3, 1]}, protocol=2)
//! let v = loads(b"\x80\x02}q\x00X\x06\x00\x00\x00labelsq\x01]q\x02(K\x03K\x01es.").unwrap();
//! assert_eq!(v.get("labels").unwrap().to_int_vec(), Some(vec![3, 1]));
//! assert!(matches!(v, Value::Dict(_)));
//! ```
//!
//! Files: [`opcodes`] (by name), [`value`] (the one value type, [`Py`], plain as [`Value`] or
//! holding the machine's shared cells), `cells` (those cells), `machine` (the opcode loop,
//! stack and memo), `callables` (interpreted calls, numpy array reconstruction), `text`
//! (protocol-0 numbers and strings), `convert` (cells to plain values at STOP, within the
//! limits), [`ndarray`] (numpy arrays).
//!
//! Limits: nesting deeper than 512 levels is an error, checked without recursion (building,
//! converting and dropping are all iterative); lengths are checked against the bytes left
//! before anything is allocated; copies of shared objects may add at most 16 times the
//! pickle's size plus 64 MiB (a "billion laughs" is an error); a truncated or corrupt stream
//! is a [`PickleError`] with the byte offset, and [`load`] names the file.
//!
//! # Why not serde-pickle
//! serde-pickle 1.2.0 (with `keep_restore_state` and `replace_unresolved_globals`) was tried
//! on CIFAR-10 batches in the real layouts, written by CPython 3 at protocol 2 and by a
//! Python-2-cPickle-style writer (SHORT_BINSTRING keys, `numpy.core.multiarray
//! _reconstruct`, BUILD with the pixels as one BINSTRING). It reads both, the array coming
//! back as the bare BUILD state tuple `(1, (n, 3072), (3, '|', None, ...), False, bytes)`;
//! but the dtype's type code (`u1`) is gone (the dtype call is replaced by its state), so the
//! CIFAR check "'data' is uint8 of shape (N, 3072)" could not be made, and a 600 KB pickle of
//! 200,000 nested lists aborts the process with a stack overflow (this reader returns
//! "nesting deeper than 512 levels"). So the hand-written machine stays.

mod callables;
mod cells;
mod convert;
mod error;
mod machine;
pub mod ndarray;
pub mod opcodes;
#[cfg(test)]
mod tests;
mod text;
pub mod value;
#[cfg(test)]
pub(crate) mod writer;

pub use error::{NotIntegers, PickleError};
pub use ndarray::NdArray;
pub use value::{Plain, Py, Repr, Value};

use crate::error::{Error, Result};
use std::path::Path;

/// Unpickles `bytes`, the content of the file `path`; a bad stream is a format error naming
/// the file.
pub fn load(path: &Path, bytes: &[u8]) -> Result<Value> {
    loads(bytes).map_err(|e| Error::format(path, e.to_string()))
}

/// Unpickles one object from `bytes` (trailing bytes after `STOP` are ignored, as Python does).
pub fn loads(bytes: &[u8]) -> std::result::Result<Value, PickleError> {
    machine::Machine::new(bytes).run()
}
