//! Class statistics many long-tailed losses start from: the label prior, the effective-number
//! weights of Cui et al. (2019), the LDAM margins of Cao et al. (2019) and the epoch from which
//! their deferred re-weighting (DRW) applies. Shared here so every plugin computes them the same
//! way.

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

/// LDAM margins `m_c = max_m * n_c^(-1/4) / max_k n_k^(-1/4)`: proportional to `n_c^(-1/4)`,
/// the largest (the rarest class's) equal to `max_m`.
pub fn ldam_margins(counts: &[u64], max_m: f64) -> Result<Vec<f64>> {
    check_counts(counts, "LDAM margins")?;
    let raw: Vec<f64> = counts.iter().map(|&n| (n as f64).powf(-0.25)).collect();
    let top = raw.iter().cloned().fold(f64::MIN, f64::max);
    Ok(raw.iter().map(|r| r * max_m / top).collect())
}

/// The epoch (zero-based) from which DRW weights apply in a stage of `total` epochs:
/// `round(drw_at * total)`. The official CIFAR runs re-weight when the one-based epoch exceeds
/// 160 of 200, i.e. from zero-based 160 (`drw_at` = 0.8).
pub fn drw_epoch(drw_at: f64, total: u32) -> u32 {
    (drw_at * total as f64).round() as u32
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

    #[test]
    fn margins_by_hand() {
        // counts [10000, 100, 1]: n^-1/4 = [0.1, 0.316228, 1]; max_m 0.5 -> [0.05, 0.158114, 0.5].
        // torch: m = 1/np.sqrt(np.sqrt(n)); m * (0.5 / m.max())
        let m = ldam_margins(&[10000, 100, 1], 0.5).unwrap();
        for (g, w) in m.iter().zip([0.05, 0.158_113_883_008, 0.5]) {
            assert!((g - w).abs() < 1e-11, "{m:?}");
        }
        let e = ldam_margins(&[3, 0], 0.5).unwrap_err().to_string();
        assert!(e.contains("class 1 has no training images"), "{e}");
    }

    #[test]
    fn margins_follow_n_to_the_minus_quarter_with_max_half() {
        let counts = [5000u64, 500, 50];
        let m = ldam_margins(&counts, 0.5).unwrap();
        assert!((m[2] - 0.5).abs() < 1e-12, "rarest class gets max_m: {m:?}");
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let want = (counts[a] as f64 / counts[b] as f64).powf(-0.25);
            assert!((m[a] / m[b] - want).abs() < 1e-12, "{m:?}");
        }
        // By hand: 50^-0.25 = 0.37606, so C = 0.5 / 0.37606 and m_0 = C * 5000^-0.25.
        // torch: m = 1/np.sqrt(np.sqrt(n)); (m * (0.5 / m.max()))[0]
        assert!((m[0] - 0.5 * (50f64 / 5000.0).powf(0.25)).abs() < 1e-12);
        assert!((m[0] - 0.158_113_883).abs() < 1e-8, "{m:?}");
    }

    #[test]
    fn drw_epoch_matches_the_official_switch() {
        // round(0.8 * 200) = 160, round(0.8 * 10) = 8, round(0 * 10) = 0.
        assert_eq!(drw_epoch(0.8, 200), 160);
        assert_eq!(drw_epoch(0.8, 10), 8);
        assert_eq!(drw_epoch(0.0, 10), 0);
    }
}
