//! The LADE regulariser (Hong et al., Eq. 11-12; the official `LADELoss`).
//!
//! For every class c it estimates the Donsker-Varadhan lower bound of
//! `KL(p_t(x|c) || p_t(x))` from the batch, with the uniform target prior `p_t(c) = 1/K`:
//!
//! * `first_c  = sum_{i: y_i = c} z_ic / (n_c + 1e-8)` (the mean logit of class c over its own
//!   `n_c` batch samples; 0 when the class is absent from the batch),
//! * `second_c = logsumexp_i (z_ic - log(p_s(c) + 1e-9) + log(1/K + 1e-9)) - log B`
//!   (over all B batch samples),
//! * `bound_c  = first_c - second_c - remine_lambda * second_c^2` (ReMINE's penalty keeps
//!   `second_c` near 0, i.e. the logits calibrated as log-likelihood ratios),
//!
//! and the regulariser is `-sum_c p_s(c) bound_c`, the bounds weighted by the training prior.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::Result;

/// Per-batch pieces of the regulariser that do not depend on the logits.
pub struct RegulariserConsts<'a> {
    /// [K] `log(p_s + 1e-9)`, in the logits' kind and device.
    pub log_prior: &'a Tensor,
    /// [K] `p_s`, the class weights of the bounds, in the logits' kind and device.
    pub prior: &'a Tensor,
    /// ReMINE's penalty weight.
    pub remine_lambda: f64,
}

/// `-sum_c p_s(c) (first_c - second_c - lambda second_c^2)` for logits [B,K] and targets [B].
pub fn lade_regulariser(
    logits: &Tensor,
    targets: &Tensor,
    c: &RegulariserConsts,
) -> Result<Tensor> {
    let kind = logits.kind();
    let (b, k) = logits.size2()?;
    // One-hot [B,K]: sample i belongs to class c.
    let member = logits
        .f_zeros_like()?
        .f_scatter_value(1, &targets.f_unsqueeze(1)?, 1.0)?;
    let n_c = member.f_sum_dim_intlist([0i64].as_slice(), false, kind)?;
    let first = logits
        .f_mul(&member)?
        .f_sum_dim_intlist([0i64].as_slice(), false, kind)?
        .f_div(&n_c.f_add_scalar(1e-8)?)?;
    let log_uniform = (1.0 / k as f64 + 1e-9).ln();
    let shifted = logits
        .f_sub(&c.log_prior.f_unsqueeze(0)?)?
        .f_add_scalar(log_uniform)?;
    let second = shifted
        .f_logsumexp([0i64].as_slice(), false)?
        .f_sub_scalar((b as f64).ln())?;
    let bound = first
        .f_sub(&second)?
        .f_sub(&second.f_square()?.f_mul_scalar(c.remine_lambda)?)?;
    Ok(bound.f_mul(c.prior)?.f_sum(kind)?.f_neg()?)
}

/// The training prior `p_s` [K] as doubles (what [`RegulariserConsts::prior`] holds).
pub fn prior(counts: &[u64]) -> Result<Tensor> {
    lt_plugin::prior::check_counts(counts, "LADE prior")?;
    let total: f64 = counts.iter().map(|&n| n as f64).sum();
    let p: Vec<f64> = counts.iter().map(|&n| n as f64 / total).collect();
    Ok(Tensor::from_slice(&p).to_kind(Kind::Double))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prior_ce::guarded_log_prior;

    #[test]
    fn regulariser_by_hand() {
        // p_s = [0.6, 0.3, 0.1], K = 3, B = 2, z = [[1, 0, -1], [0.5, 1.5, 0]], y = [0, 1].
        // first  = [1.0, 1.5, 0.0] (class 2 is absent: 0 / (0 + 1e-8) = 0).
        // second_c = log(mean_i e^{z_ic} * (1/3) / p_c):
        //   c0: mean(e^1, e^0.5) = 2.183502 -> log(2.183502 / 1.8) = 0.193143
        //   c1: mean(e^0, e^1.5) = 2.740845 -> log(2.740845 / 0.9) = 1.113627
        //   c2: mean(e^-1, e^0) = 0.683940 -> log(0.683940 / 0.3) = 0.824087
        // bound = first - second - 0.1 second^2 = [0.803126, 0.262357, -0.891999]
        // R = -(0.6 * 0.803126 + 0.3 * 0.262357 + 0.1 * -0.891999) = -0.471383019427.
        // PyTorch: LADELoss(num_classes=3, remine_lambda=0.1) with prior [0.6, 0.3, 0.1]
        let lp = Tensor::from_slice(&guarded_log_prior(&[6, 3, 1]).unwrap());
        let p = prior(&[6, 3, 1]).unwrap();
        let z = Tensor::from_slice(&[1.0f64, 0.0, -1.0, 0.5, 1.5, 0.0]).reshape([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let c = RegulariserConsts {
            log_prior: &lp,
            prior: &p,
            remine_lambda: 0.1,
        };
        let got = lade_regulariser(&z, &y, &c).unwrap().double_value(&[]);
        assert!((got - (-0.471_383_019_427)).abs() < 1e-7, "{got}");
        // lambda = 0: the plain MINE bound, R = -sum p_c (first_c - second_c).
        let c0 = RegulariserConsts {
            remine_lambda: 0.0,
            ..c
        };
        let want = -(0.6 * (1.0 - 0.193_143_138_718)
            + 0.3 * (1.5 - 1.113_626_613_081)
            + 0.1 * (0.0 - 0.824_087_311_284));
        let got = lade_regulariser(&z, &y, &c0).unwrap().double_value(&[]);
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
    }
}
