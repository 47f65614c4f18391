//! Shared pieces: the class prior, effective-number weights, per-class vectors, the per-sample
//! cross-entropy.

use lt_plugin::tch::Tensor;
use lt_plugin::{check, DatasetInfo, Result};

pub use lt_plugin::prior::{check_counts, effective_number_weights, log_prior};

/// A per-class vector as a double tensor on the dataset device (cast to the logits' kind per
/// call, so double-precision tests see no float rounding).
/// `v` is computed from the class counts, so checking those checks `v`.
pub fn class_vector(v: &[f64], data: &DatasetInfo) -> Result<Tensor> {
    check::class_counts(data)?;
    Ok(Tensor::from_slice(v).f_to_device(data.device)?)
}

/// `v` [K] in the kind and on the device of `like`, shaped [1, K] for broadcasting.
pub fn row_like(v: &Tensor, like: &Tensor) -> Result<Tensor> {
    Ok(v.f_to_device(like.device())?
        .f_to_kind(like.kind())?
        .f_unsqueeze(0)?)
}

/// Per-sample `-log softmax(z)_y` [B], in the logits' kind.
pub fn nll(z: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(z.f_log_softmax(-1, z.kind())?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?)
}
