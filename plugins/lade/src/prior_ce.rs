//! PC softmax cross-entropy (the official `PriorCELoss`, "LADE-CE"): the model's logits `z` are
//! read as `log p_t(x|y)` up to a constant, so the training posterior is
//! `softmax(z + log p_s)` with `p_s` the training label prior, and the loss is the batch mean of
//! `-log softmax(z + log(p_s + 1e-9))_y`. At test time on a uniform label distribution the plain
//! `softmax(z)` is the posterior (Hong et al., Sec. 3.2).

use lt_plugin::tch::Tensor;
use lt_plugin::Result;

/// `log(p_c + 1e-9)` per class, the official code's guarded log of the training prior.
pub fn guarded_log_prior(counts: &[u64]) -> Result<Vec<f64>> {
    lt_plugin::prior::check_counts(counts, "LADE prior")?;
    let total: f64 = counts.iter().map(|&n| n as f64).sum();
    Ok(counts
        .iter()
        .map(|&n| (n as f64 / total + 1e-9).ln())
        .collect())
}

/// Batch mean of `-log softmax(z + log_prior)_y`; `log_prior` is [K] in the logits' kind and
/// device, `targets` [B] int64 (shapes checked by the caller).
pub fn prior_ce(logits: &Tensor, targets: &Tensor, log_prior: &Tensor) -> Result<Tensor> {
    let kind = logits.kind();
    let shifted = logits.f_add(&log_prior.f_unsqueeze(0)?)?;
    Ok(shifted
        .f_log_softmax(-1, kind)?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_neg()?
        .f_mean(kind)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pc_softmax_ce_by_hand() {
        // p_s = [0.6, 0.3, 0.1]; z = [[1, 0, -1], [0.5, 1.5, 0]]; y = [0, 1].
        // Row 0: z + log p = [0.489174, -1.203973, -3.302585], logsumexp = 0.676894,
        //        loss = 0.676894 - 0.489174 = 0.187720.
        // Row 1: z + log p = [-0.010826, 0.296027, -2.302585], logsumexp = 0.889429,
        //        loss = 0.889429 - 0.296027 = 0.593402.
        // Mean = 0.390560860508.  PyTorch: F.cross_entropy(z + p.log(), y)
        let lp = Tensor::from_slice(&guarded_log_prior(&[6, 3, 1]).unwrap());
        let z = Tensor::from_slice(&[1.0f64, 0.0, -1.0, 0.5, 1.5, 0.0]).reshape([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let got = prior_ce(&z, &y, &lp).unwrap().double_value(&[]);
        assert!((got - 0.390_560_860_508).abs() < 1e-8, "{got}");
        // Uniform counts: the log prior is a constant shift, so PC CE is plain CE.
        let lu = Tensor::from_slice(&guarded_log_prior(&[4, 4, 4]).unwrap());
        let ce = z.log_softmax(-1, lt_plugin::tch::Kind::Double).nll_loss(&y);
        let got = prior_ce(&z, &y, &lu).unwrap().double_value(&[]);
        assert!((got - ce.double_value(&[])).abs() < 1e-12);
    }
}
