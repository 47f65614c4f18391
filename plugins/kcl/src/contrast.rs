//! The k-positive contrastive loss on embeddings (Kang et al., ICLR 2021, Eq. 3): with `v` the
//! L2-normalised embeddings of all N = 2B views, `s_aj = v_a . v_j / tau`, and `P_a` the
//! anchor's positives (its other view and up to k same-class views),
//!
//! `L = 1/N sum_a -1/|P_a| sum_{p in P_a} log( exp(s_ap) / sum_{j != a} exp(s_aj) )`.
//!
//! Every other view is in the denominator (the official MoCo-style code: the own key plus the
//! whole queue); the loss is the official soft-label cross-entropy with weight 1/|P_a| on each
//! positive, averaged over anchors.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::Result;

/// The loss of normalised embeddings `v` [N,P] with positive weights `pos` [N,N] (1 for a
/// positive, 0 otherwise, zero diagonal, at least one positive per row).
pub fn k_positive_loss(v: &Tensor, pos: &Tensor, temperature: f64) -> Result<Tensor> {
    let kind = v.kind();
    let n = v.size2()?.0;
    let sim = v.f_mm(&v.f_tr()?)?.f_div_scalar(temperature)?;
    let eye = Tensor::f_eye(n, (Kind::Bool, v.device()))?;
    let lse = sim
        .f_masked_fill(&eye, f64::NEG_INFINITY)?
        .f_logsumexp([1i64].as_slice(), true)?;
    let log_prob = sim.f_sub(&lse)?;
    let per_anchor = log_prob
        .f_mul(pos)?
        .f_sum_dim_intlist([1i64].as_slice(), false, kind)?
        .f_div(&pos.f_sum_dim_intlist([1i64].as_slice(), false, kind)?)?;
    Ok(per_anchor.f_mean(kind)?.f_neg()?)
}
