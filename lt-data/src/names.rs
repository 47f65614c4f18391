//! Things chosen by name (sources, augmentations, samplers, recipes): finding one among the
//! known names, and the one-line error that lists them.

use crate::error::{Error, Result};

/// The error for a name that is none of `known`: `{unknown} (known: a, b, c)`, where
/// `unknown` says what was asked, e.g. `unknown source 'x'`.
pub(crate) fn unknown(unknown: String, known: &[&str]) -> Error {
    Error::invalid(format!("{unknown} (known: {})", known.join(", ")))
}

/// The member of `all` whose `name` is `s`; else the [`unknown`] error, `what` saying what was
/// asked.
pub(crate) fn find<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    s: &str,
    what: impl FnOnce() -> String,
) -> Result<T> {
    all.iter().copied().find(|&x| name(x) == s).ok_or_else(|| {
        let known: Vec<&str> = all.iter().map(|&x| name(x)).collect();
        unknown(what(), &known)
    })
}
