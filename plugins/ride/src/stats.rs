//! The per-class constants of the RIDE loss, all fixed by the training counts n_c: the diversity
//! temperature factors here; the LDAM margins, the deferred re-weighting (DRW) weights and the
//! DRW switch epoch are the SDK's (`lt_plugin::prior`).

use lt_plugin::prior::check_counts;
use lt_plugin::{Error, Result};

pub use lt_plugin::prior::effective_number_weights;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
