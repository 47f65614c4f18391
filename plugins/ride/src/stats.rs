//! The per-class constants of the RIDE loss, all fixed by the training counts n_c: the LDAM
//! margins, the deferred re-weighting (DRW) weights and the diversity temperature factors.

use lt_plugin::prior::check_counts;
use lt_plugin::{Error, Result};

pub use lt_plugin::prior::effective_number_weights;

/// LDAM margins `m_c = C n_c^(-1/4)`, with C chosen so that the largest (the rarest class's) is
/// `max_m`.
pub fn ldam_margins(counts: &[u64], max_m: f64) -> Result<Vec<f64>> {
    check_counts(counts, "LDAM margins")?;
    let raw: Vec<f64> = counts.iter().map(|&n| (n as f64).powf(-0.25)).collect();
    let top = raw.iter().cloned().fold(f64::MIN, f64::max);
    Ok(raw.iter().map(|r| r * max_m / top).collect())
}

/// Diversity temperature factors `v_c = u_c / max_k u_k` with `u_c = 1 - f + f K n_c / N`
/// (`f` = `reweight_factor`): head classes get the base temperature, rarer ones a lower one.
/// A factor that makes some `u_c <= 0` is a config error naming `reweight_factor`.
pub fn diversity_factors(counts: &[u64], reweight_factor: f64) -> Result<Vec<f64>> {
    check_counts(counts, "RIDE diversity temperatures")?;
    let total: f64 = counts.iter().map(|&n| n as f64).sum();
    let k = counts.len() as f64;
    let u: Vec<f64> = counts
        .iter()
        .map(|&n| 1.0 - reweight_factor + reweight_factor * k * n as f64 / total)
        .collect();
    let top = u.iter().cloned().fold(f64::MIN, f64::max);
    if !(reweight_factor.is_finite() && u.iter().all(|&x| x > 0.0)) {
        return Err(Error::Config(format!(
            "reweight_factor {reweight_factor} is too large: some class temperature would be <= 0"
        )));
    }
    Ok(u.iter().map(|x| x / top).collect())
}

/// The epoch (zero-based) from which DRW applies in a stage of `total` epochs. The official
/// CIFAR run re-weights when its one-based epoch exceeds 160 of 200, i.e. from zero-based 160.
pub fn drw_epoch(drw_at: f64, total: u32) -> u32 {
    (drw_at * total as f64).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn drw_weights_by_hand() {
        // beta 0.9, counts [2, 1]: raw (1-b)/(1-b^n) = [0.1/0.19, 0.1/0.1] = [0.526316, 1];
        // normalised to sum K = 2: [0.689655, 1.310345].
        // torch: w = (1-b)/(1-b**n); w / w.sum() * 2
        let w = effective_number_weights(&[2, 1], 0.9).unwrap();
        assert!((w[0] - 0.689_655_172_4).abs() < 1e-9, "{w:?}");
        assert!((w[1] - 1.310_344_827_6).abs() < 1e-9, "{w:?}");
    }

    #[test]
    fn diversity_factors_by_hand() {
        // counts [75, 25], f = 0.05, K = 2: u = 0.95 + 0.1 * [0.75, 0.25] = [1.025, 0.975];
        // v = u / 1.025 = [1, 0.951220].
        // torch: p = n/n.sum(); u = K*p*f + 1 - f; u / u.max()
        let v = diversity_factors(&[75, 25], 0.05).unwrap();
        assert!((v[0] - 1.0).abs() < 1e-12 && (v[1] - 0.975 / 1.025).abs() < 1e-12);
        assert!((v[1] - 0.951_219_512).abs() < 1e-9, "{v:?}");
        // Balanced counts: every class at the base temperature.
        assert!(diversity_factors(&[5, 5, 5], 0.3)
            .unwrap()
            .iter()
            .all(|x| (x - 1.0).abs() < 1e-12));
        // f = 3 with counts [99, 1]: u_1 = 1 - 3 + 3 * 2 * 0.01 = -1.94 -> refused.
        let e = diversity_factors(&[99, 1], 3.0).unwrap_err().to_string();
        assert!(e.starts_with("reweight_factor 3 is too large"), "{e}");
    }

    #[test]
    fn drw_epoch_matches_the_official_switch() {
        assert_eq!(drw_epoch(0.8, 200), 160);
        assert_eq!(drw_epoch(0.8, 10), 8);
        assert_eq!(drw_epoch(0.0, 10), 0);
    }
}
