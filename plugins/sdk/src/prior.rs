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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_number_weights_match_the_formula_and_sum_to_k() {
        for (counts, beta) in [([60u64, 12, 3], 0.99f64), ([1000, 100, 10], 0.999)] {
            let w = effective_number_weights(&counts, beta).unwrap();
            // By hand: E_n = (1 - beta^n) / (1 - beta); w ∝ 1 / E_n; sum w = K.
            let inv: Vec<f64> = counts
                .iter()
                .map(|&n| (1.0 - beta) / (1.0 - beta.powi(n as i32)))
                .collect();
            let s: f64 = inv.iter().sum();
            for i in 0..3 {
                assert!((w[i] - 3.0 * inv[i] / s).abs() < 1e-12);
            }
            assert!((w.iter().sum::<f64>() - 3.0).abs() < 1e-12);
            assert!(
                w[0] < w[1] && w[1] < w[2],
                "rarer classes weigh more: {w:?}"
            );
            // beta = 0: no re-weighting at all.
            assert!(effective_number_weights(&counts, 0.0)
                .unwrap()
                .iter()
                .all(|&v| (v - 1.0).abs() < 1e-12));
            assert!(effective_number_weights(&counts, 1.0).is_err());
        }
        let e = effective_number_weights(&[4, 0], 0.9).unwrap_err();
        assert!(
            e.to_string().contains("class 1 has no training images"),
            "{e}"
        );
    }
}
