//! Calibration: the 15 equal-width confidence bins, ECE, MCE, and the NLL of the true class.

use super::Sample;
use serde::{Deserialize, Serialize};

/// Number of confidence bins of the reported ECE / MCE.
pub const ECE_BINS: usize = 15;

/// Mean NLL of the true class, nats.
pub fn nll(s: &[Sample]) -> f64 {
    if s.is_empty() {
        0.0
    } else {
        s.iter().map(|x| x.nll).sum::<f64>() / s.len() as f64
    }
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Accuracy of the bin's samples, fraction 0–1 (0 when empty).
    pub accuracy: f64,
    /// Mean confidence of the bin's samples, 0–1 (0 when empty).
    pub confidence: f64,
}

/// Equal-width confidence bins over (0, 1].
pub fn reliability_bins(s: &[Sample], n_bins: usize) -> Vec<Bin> {
    let n_bins = n_bins.max(1);
    let mut count = vec![0usize; n_bins];
    let mut hit = vec![0usize; n_bins];
    let mut conf = vec![0f64; n_bins];
    for x in s {
        // Bin b covers (b/n, (b+1)/n] with the edges computed as b as f64 / n as f64; the
        // estimate ceil(c*n) - 1 is corrected for rounding at the edges.
        let nb = n_bins as f64;
        let mut b = ((x.confidence * nb).ceil() as i64 - 1).clamp(0, n_bins as i64 - 1) as usize;
        while b > 0 && x.confidence <= b as f64 / nb {
            b -= 1;
        }
        while b + 1 < n_bins && x.confidence > (b + 1) as f64 / nb {
            b += 1;
        }
        count[b] += 1;
        hit[b] += (x.pred == x.label) as usize;
        conf[b] += x.confidence;
    }
    (0..n_bins)
        .map(|b| Bin {
            lower: b as f64 / n_bins as f64,
            upper: (b + 1) as f64 / n_bins as f64,
            count: count[b],
            accuracy: if count[b] > 0 {
                hit[b] as f64 / count[b] as f64
            } else {
                0.0
            },
            confidence: if count[b] > 0 {
                conf[b] / count[b] as f64
            } else {
                0.0
            },
        })
        .collect()
}

/// Expected calibration error, percent.
pub fn ece(bins: &[Bin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    100.0
        * bins
            .iter()
            .map(|b| (b.accuracy - b.confidence).abs() * b.count as f64)
            .sum::<f64>()
        / n as f64
}

/// Maximum calibration error over non-empty bins, percent.
pub fn mce(bins: &[Bin]) -> f64 {
    100.0
        * bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.accuracy - b.confidence).abs())
            .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Evaluator;

    fn sample(label: i64, pred: i64, confidence: f64) -> Sample {
        Sample {
            label,
            pred,
            top5: true,
            confidence,
            nll: 0.0,
        }
    }

    #[test]
    fn nll_of_the_true_class() {
        let probs = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.2, 0.5, 0.3, 0.4, 0.35, 0.25];
        let mut e = Evaluator::new(3);
        e.add_probs(&probs, &[0, 1, 1, 2]).unwrap();
        let s = e.samples();
        let want_nll = -(0.7f64.ln() + 0.3f64.ln() + 0.5f64.ln() + 0.25f64.ln()) / 4.0;
        assert!((nll(s) - want_nll).abs() < 1e-6, "{} vs {want_nll}", nll(s));
    }

    #[test]
    fn ece_on_constructed_example() {
        // Bins of width 1/15. Samples:
        //  conf 0.95 (bin 14), correct x3, wrong x1 -> acc 0.75, conf 0.95, gap 0.20, n 4
        //  conf 0.55 (bin 8: (8/15, 9/15] = (0.533, 0.6]) correct x1, wrong x1 -> acc 0.5,
        //    conf 0.55, gap 0.05, n 2
        //  conf 0.30 (bin 4: (0.267, 0.333]) correct x2 -> acc 1.0, gap 0.70, n 2
        // ECE = (0.20*4 + 0.05*2 + 0.70*2) / 8 = 2.3 / 8 = 0.2875 -> 28.75 %; MCE = 70 %.
        let mut s = vec![sample(0, 0, 0.95); 3];
        s.push(sample(0, 1, 0.95));
        s.push(sample(1, 1, 0.55));
        s.push(sample(1, 0, 0.55));
        s.extend([sample(2, 2, 0.30), sample(2, 2, 0.30)]);
        let bins = reliability_bins(&s, 15);
        assert_eq!(bins.len(), 15);
        assert_eq!((bins[14].count, bins[8].count, bins[4].count), (4, 2, 2));
        assert!((ece(&bins) - 28.75).abs() < 1e-9, "{}", ece(&bins));
        assert!((mce(&bins) - 70.0).abs() < 1e-9);
        // Bin edges: a confidence of exactly 2/15 belongs to bin 1, 1.0 to bin 14.
        let b = reliability_bins(&[sample(0, 0, 2.0 / 15.0), sample(0, 0, 1.0)], 15);
        assert_eq!((b[1].count, b[14].count), (1, 1));
        // Perfect calibration gives 0.
        let perfect: Vec<Sample> = (0..10)
            .map(|i| sample(0, if i < 8 { 0 } else { 1 }, 0.8))
            .collect();
        assert!(ece(&reliability_bins(&perfect, 15)).abs() < 1e-9);
    }
}
