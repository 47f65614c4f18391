//! Shared pieces: the class prior, effective-number weights, shape checks.

use lt_plugin::tch::Tensor;
use lt_plugin::{DatasetInfo, PluginError, Result};

/// Refuses an empty class list or a class without training images (log 0 and 1/(1 - beta^0)
/// would be infinite).
pub fn check_counts(counts: &[u64], what: &str) -> Result<()> {
    if counts.is_empty() {
        return Err(PluginError::new(format!(
            "{what}: the dataset has no classes"
        )));
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(PluginError(format!(
            "{what}: class {c} has no training images (every class needs n_c > 0)"
        )));
    }
    Ok(())
}

/// `log pi_c = log(n_c / N)`, the log of the training label prior.
pub fn log_prior(counts: &[u64]) -> Result<Vec<f64>> {
    check_counts(counts, "label prior")?;
    let total: f64 = counts.iter().map(|&n| n as f64).sum();
    Ok(counts.iter().map(|&n| (n as f64 / total).ln()).collect())
}

/// Class-balanced weights `(1 - beta) / (1 - beta^{n_c})` (Cui et al. 2019: the inverse
/// effective number of samples), normalised to sum to K.
pub fn effective_number_weights(counts: &[u64], beta: f64) -> Result<Vec<f64>> {
    check_counts(counts, "class-balanced weights")?;
    if !(0.0..1.0).contains(&beta) {
        return Err(PluginError(format!("beta must be in [0, 1), got {beta}")));
    }
    let raw: Vec<f64> = counts
        .iter()
        .map(|&n| (1.0 - beta) / (1.0 - beta.powf(n as f64)))
        .collect();
    let sum: f64 = raw.iter().sum();
    let k = counts.len() as f64;
    Ok(raw.iter().map(|w| w * k / sum).collect())
}

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
