//! The per-expert base loss of RIDE: LDAM cross-entropy on logits already scaled by s, with
//! optional class weights (DRW). The true-class logit is lowered by `s m_y` (the official
//! `get_final_output`: the model applied s, so the margin is scaled here), and a weighted batch
//! is reduced as PyTorch's `cross_entropy(weight=w)`: `sum_i w_{y_i} l_i / sum_i w_{y_i}`.

use lt_plugin::tch::Tensor;
use lt_plugin::Result;

/// `z_{b,y_b} -= s m_{y_b}`; `margins` [K] (any float kind, any device).
pub fn margined(logits: &Tensor, targets: &Tensor, margins: &Tensor, s: f64) -> Result<Tensor> {
    let t = targets.f_unsqueeze(1)?;
    let m = margins
        .f_to_device(logits.device())?
        .f_to_kind(logits.kind())?
        .f_index_select(0, targets)?
        .f_unsqueeze(1)?
        .f_mul_scalar(s)?;
    let shift = logits.f_zeros_like()?.f_scatter(1, &t, &m)?;
    Ok(logits.f_sub(&shift)?)
}

/// Cross-entropy of `logits` [B,K], mean over the batch, or the `weights`-weighted mean.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &Tensor,
    weights: Option<&Tensor>,
) -> Result<Tensor> {
    let kind = logits.kind();
    let nll = logits
        .f_log_softmax(-1, kind)?
        .f_gather(1, &targets.f_unsqueeze(1)?, false)?
        .f_squeeze_dim(1)?
        .f_neg()?;
    match weights {
        None => Ok(nll.f_mean(kind)?),
        Some(w) => {
            let w = w
                .f_to_device(logits.device())?
                .f_to_kind(kind)?
                .f_index_select(0, targets)?;
            Ok(nll.f_mul(&w)?.f_sum(kind)?.f_div(&w.f_sum(kind)?)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldam_cross_entropy_by_hand() {
        // z = [[2, 1], [0.5, 1.5]], y = [0, 1], margins [0.1, 0.2], s = 5:
        // margined z = [[2 - 0.5, 1], [0.5, 1.5 - 1.0]] = [[1.5, 1], [0.5, 0.5]].
        // l_0 = log(e^1.5 + e^1) - 1.5 = 0.474077; l_1 = log 2 = 0.693147.
        // mean = 0.583612; weights [1, 3]: (0.474077 + 3 * 0.693147) / 4 = 0.638380.
        // torch: F.cross_entropy(zm, y), F.cross_entropy(zm, y, weight=torch.tensor([1., 3.]))
        let z = Tensor::from_slice(&[2.0, 1.0, 0.5, 1.5]).reshape([2, 2]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let zm = margined(&z, &y, &Tensor::from_slice(&[0.1f64, 0.2]), 5.0).unwrap();
        let got: Vec<f64> = Vec::try_from(zm.reshape([-1])).unwrap();
        for (g, w) in got.iter().zip([1.5, 1.0, 0.5, 0.5]) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let l0 = (1.5f64.exp() + 1f64.exp()).ln() - 1.5;
        assert!((l0 - 0.474_076_984).abs() < 1e-8);
        let mean = cross_entropy(&zm, &y, None).unwrap().double_value(&[]);
        assert!((mean - (l0 + 2f64.ln()) / 2.0).abs() < 1e-12, "{mean}");
        let w = Tensor::from_slice(&[1.0, 3.0]);
        let wm = cross_entropy(&zm, &y, Some(&w)).unwrap().double_value(&[]);
        assert!((wm - (l0 + 3.0 * 2f64.ln()) / 4.0).abs() < 1e-12, "{wm}");
        assert!((wm - 0.638_379_5).abs() < 1e-6, "{wm}");
    }
}
