//! Shared pieces: the class prior, effective-number weights, shape checks.

use lt_plugin::tch::Tensor;
use lt_plugin::{DatasetInfo, PluginError, Result};

pub use lt_plugin::prior::{check_counts, effective_number_weights, log_prior};

/// A per-class vector as a double tensor on the dataset device (cast to the logits' kind per
/// call, so double-precision tests see no float rounding).
pub fn class_vector(v: &[f64], data: &DatasetInfo) -> Result<Tensor> {
    if v.len() != data.num_classes {
        return Err(PluginError(format!(
            "{} class counts for {} classes",
            v.len(),
            data.num_classes
        )));
    }
    Ok(Tensor::from_slice(v).f_to_device(data.device)?)
}

/// `v` [K] in the kind and on the device of `like`, shaped [1, K] for broadcasting.
pub fn row_like(v: &Tensor, like: &Tensor) -> Result<Tensor> {
    Ok(v.f_to_device(like.device())?
        .f_to_kind(like.kind())?
        .f_unsqueeze(0)?)
}

/// Checks logits [B, K] against targets [B].
pub fn check_shapes(logits: &Tensor, targets: &Tensor, k: usize) -> Result<()> {
    let (b, kk) = logits.size2()?;
    if kk != k as i64 || targets.size() != [b] {
        return Err(PluginError(format!(
            "expected logits [B,{k}] and targets [B], got {:?} and {:?}",
            logits.size(),
            targets.size()
        )));
    }
    Ok(())
}

/// Per-sample `-log softmax(z)_y` [B], in the logits' kind.
pub fn nll(z: &Tensor, targets: &Tensor) -> Result<Tensor> {
    Ok(z.f_log_softmax(-1, z.kind())?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?)
}
