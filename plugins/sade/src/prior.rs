//! The two label distributions SADE's expert losses adjust by: the training prior
//! `pi_c = n_c / N` and its reversal `pi~`, the prior of the inversely long-tailed distribution.
//!
//! `pi~` keeps the multiset of prior values and reverses their order by rank: the class with the
//! r-th smallest prior gets the r-th largest value. On a dataset whose classes are sorted by
//! frequency (class 0 the most frequent) that is `pi~_c = pi_{K-1-c}`. Classes of equal prior are
//! ranked by label (a stable sort), so the result does not depend on a sort's tie order.

use lt_plugin::{prior, Result};

/// `pi_c = n_c / N`; refuses no classes or a class without images.
pub fn label_prior(counts: &[u64]) -> Result<Vec<f64>> {
    Ok(prior::log_prior(counts)?.iter().map(|l| l.exp()).collect())
}

/// The reversed prior `pi~` of `pi` (see the module doc).
pub fn reversed(pi: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..pi.len()).collect();
    // Ascending by value, ties by label: order[r] is the class of rank r.
    order.sort_by(|&a, &b| pi[a].total_cmp(&pi[b]).then(a.cmp(&b)));
    let k = pi.len();
    let mut out = vec![0.0; k];
    for (rank, &class) in order.iter().enumerate() {
        out[class] = pi[order[k - 1 - rank]];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_and_its_reversal_by_hand() {
        // counts 6, 3, 1: pi = (0.6, 0.3, 0.1) and reversed (0.1, 0.3, 0.6).
        let pi = label_prior(&[6, 3, 1]).unwrap();
        for (g, w) in pi.iter().zip([0.6, 0.3, 0.1]) {
            assert!((g - w).abs() < 1e-15, "{pi:?}");
        }
        assert_eq!(reversed(&[0.6, 0.3, 0.1]), vec![0.1, 0.3, 0.6]);
        // Not sorted by label: ranks decide. pi = (0.3, 0.1, 0.6): class 1 is the rarest and gets
        // the largest value, class 2 the most frequent and gets the smallest.
        assert_eq!(reversed(&[0.3, 0.1, 0.6]), vec![0.3, 0.6, 0.1]);
        // Ties are ranked by label: (0.25, 0.25, 0.5) has ranks 0, 1, 2 -> (0.5, 0.25, 0.25).
        assert_eq!(reversed(&[0.25, 0.25, 0.5]), vec![0.5, 0.25, 0.25]);
        // Reversing twice is the identity on a prior without ties.
        let p = [0.05, 0.4, 0.15, 0.3, 0.1];
        assert_eq!(reversed(&reversed(&p)), p.to_vec());
        let e = label_prior(&[4, 0]).unwrap_err().to_string();
        assert!(e.contains("class 1 has no training images"), "{e}");
    }
}
