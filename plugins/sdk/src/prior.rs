//! Class statistics many long-tailed losses start from: the label prior and the effective-number
//! weights of Cui et al. (2019). Shared here so every plugin computes them the same way.

use crate::{Error, Result};

/// Refuses an empty class list or a class without training images (log 0 and 1/(1 - beta^0)
/// would be infinite).
pub fn check_counts(counts: &[u64], what: &str) -> Result<()> {
    if counts.is_empty() {
        return Err(Error::Data(format!("{what}: the dataset has no classes")));
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(Error::Data(format!(
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
        return Err(Error::Config(format!("beta must be in [0, 1), got {beta}")));
    }
    let raw: Vec<f64> = counts
        .iter()
        .map(|&n| (1.0 - beta) / (1.0 - beta.powf(n as f64)))
        .collect();
    let sum: f64 = raw.iter().sum();
    let k = counts.len() as f64;
    Ok(raw.iter().map(|w| w * k / sum).collect())
}
