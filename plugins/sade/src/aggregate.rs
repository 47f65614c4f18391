//! How SADE combines its experts, and the self-supervised objective that tunes the combination
//! on unlabelled test images.
//!
//! The aggregation weights are `a = softmax(w)` of a free 3-vector `w` (the official code starts
//! `w` at 1/3 each, so `a` starts equal) and the prediction is the weighted sum of the experts'
//! logits, `z = sum_i a_i z_i`. Prediction stability: with `p = softmax(z)` on one random view of
//! an image and `p'` on another, the test-time loss is `-mean_b cos(p_b, p'_b)`; minimising it
//! over `w` favours the experts whose predictions agree across views.

use lt_plugin::tch::Tensor;
use lt_plugin::{Error, Result};

/// `a = softmax(w)` over the experts.
pub fn expert_weights(w: &Tensor) -> Result<Tensor> {
    Ok(w.f_softmax(0, w.kind())?)
}

/// `sum_i softmax(w)_i z_i` over the experts' logits `z_i` [B, K] (in the logits' kind).
pub fn aggregate(w: &Tensor, experts: &[Tensor]) -> Result<Tensor> {
    if experts.is_empty() || w.size() != [experts.len() as i64] {
        return Err(Error::Input(format!(
            "{} experts' logits for aggregation weights of shape {:?}",
            experts.len(),
            w.size()
        )));
    }
    let first = &experts[0];
    let a = expert_weights(w)?
        .f_to_device(first.device())?
        .f_to_kind(first.kind())?;
    let stacked = Tensor::f_stack(experts, 0)?; // [E, B, K]
    let weighted = stacked.f_mul(&a.f_view([-1, 1, 1])?)?;
    Ok(weighted.f_sum_dim_intlist([0i64].as_slice(), false, first.kind())?)
}

/// Row-wise cosine similarity, each norm floored at 1e-6 (PyTorch's `CosineSimilarity` eps).
fn cosine_rows(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let kind = x.kind();
    let dot = x
        .f_mul(y)?
        .f_sum_dim_intlist([1i64].as_slice(), false, kind)?;
    let nx = x
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), false)?
        .f_clamp_min(1e-6)?;
    let ny = y
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), false)?
        .f_clamp_min(1e-6)?;
    Ok(dot.f_div(&nx.f_mul(&ny)?)?)
}

/// The prediction-stability loss `-mean_b cos(softmax(z_b), softmax(z'_b))` of the aggregated
/// logits of two views; differentiable in `w` (and in the logits).
pub fn stability_loss(w: &Tensor, view1: &[Tensor], view2: &[Tensor]) -> Result<Tensor> {
    let z1 = aggregate(w, view1)?;
    let z2 = aggregate(w, view2)?;
    if z1.size() != z2.size() {
        return Err(Error::Input(format!(
            "the two views' logits differ in shape: {:?} and {:?}",
            z1.size(),
            z2.size()
        )));
    }
    let kind = z1.kind();
    let p1 = z1.f_softmax(1, kind)?;
    let p2 = z2.f_softmax(1, kind)?;
    Ok(cosine_rows(&p1, &p2)?.f_mean(kind)?.f_neg()?)
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
