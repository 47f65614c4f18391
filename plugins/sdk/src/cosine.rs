//! The cosine ("normed linear") classifier several long-tailed methods share (LDAM-DRW's
//! `NormedLinear`, RIDE's and SADE's experts on CIFAR): `z_c = s <x/|x|, w_c/|w_c|>`, no bias,
//! and the row L2-normalisation (`F.normalize(x, dim=1)`) it is built from. One copy here so
//! every plugin computes the same numbers.

use crate::Result;
use tch::{Device, Kind, Tensor};

/// Rows divided by their L2 norm, the norm floored at 1e-12 (as `F.normalize(x, dim=1)`): a zero
/// row stays zero. Computed in the kind of `x`.
pub fn rows_normalized(x: &Tensor) -> Result<Tensor> {
    let n = x
        .f_norm_scalaropt_dim(2, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    Ok(x.f_div(&n)?)
}

/// `s * cos(x_b, w_c)` for features `x` [B,D] and class directions `w` [K,D] -> [B,K]; `w` is
/// cast to the kind of `x`.
pub fn cosine_logits(x: &Tensor, w: &Tensor, s: f64) -> Result<Tensor> {
    let w = rows_normalized(&w.f_to_kind(x.kind())?)?;
    Ok(rows_normalized(x)?.f_mm(&w.f_tr()?)?.f_mul_scalar(s)?)
}

/// A trainable [K,D] float weight with unit rows drawn uniformly in [-1, 1] before the
/// normalisation, as the official `NormedLinear` initialises its columns (tch's generator,
/// seeded by the trainer).
pub fn init_cosine_weight(k: i64, d: i64, device: Device) -> Result<Tensor> {
    let w = Tensor::f_empty([k, d], (Kind::Float, device))?.f_uniform_(-1.0, 1.0)?;
    Ok(rows_normalized(&w)?.f_detach()?.set_requires_grad(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A double matrix with `rows` rows, filled row by row from `v`.
    fn t(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    #[test]
    fn normalisation_by_hand() {
        // [3,4] / 5 = [0.6, 0.8]; the zero row stays zero (norm floored at 1e-12).
        // torch: F.normalize(torch.tensor([[3., 4.], [0., 0.]], dtype=torch.float64), dim=1)
        let x = t(&[3.0, 4.0, 0.0, 0.0], 2);
        let got: Vec<f64> = Vec::try_from(rows_normalized(&x).unwrap().reshape([-1])).unwrap();
        assert_eq!(got, vec![0.6, 0.8, 0.0, 0.0]);
    }

    #[test]
    fn logits_by_hand() {
        // x = [[1,0],[1,1]], w = [[3,4],[0,-2]], s = 2:
        // cos([1,0],[3,4]) = 0.6, cos([1,0],[0,-2]) = 0, cos([1,1],[3,4]) = 7/(5 sqrt 2) = 0.989949,
        // cos([1,1],[0,-2]) = -1/sqrt 2 = -0.707107; times 2 -> [1.2, 0, 1.979899 (= 2.8/sqrt 2),
        // -1.414214 (= -2/sqrt 2)].
        // torch: 2 * F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
        let z = cosine_logits(
            &t(&[1.0, 0.0, 1.0, 1.0], 2),
            &t(&[3.0, 4.0, 0.0, -2.0], 2),
            2.0,
        )
        .unwrap();
        let got: Vec<f64> = Vec::try_from(z.reshape([-1])).unwrap();
        let r = std::f64::consts::FRAC_1_SQRT_2;
        for (g, w) in got.iter().zip([1.2, 0.0, 2.8 * r, -2.0 * r]) {
            assert!((g - w).abs() < 1e-8, "{got:?}");
        }
    }

    /// A weighted sum of the [2,3] logits, so every logit's gradient counts differently.
    fn weighted_sum(x: &Tensor, w: &Tensor) -> Tensor {
        let c = t(&[1.0, -2.0, 0.5, 0.3, 1.5, -1.0], 2);
        (cosine_logits(x, w, 3.0).unwrap() * c).sum(Kind::Double)
    }

    /// Central difference of `weighted_sum` in coordinate `i` of `x` (or of `w` if `in_w`).
    fn central_difference(x0: &[f64; 6], w0: &[f64; 9], i: usize, in_w: bool) -> f64 {
        let h = 1e-6;
        let at = |sign: f64| {
            let (mut x, mut w) = (*x0, *w0);
            if in_w {
                w[i] += sign * h;
            } else {
                x[i] += sign * h;
            }
            weighted_sum(&t(&x, 2), &t(&w, 3)).double_value(&[])
        };
        (at(1.0) - at(-1.0)) / (2.0 * h)
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x0 = [0.3, -1.1, 0.7, 0.2, 0.9, -0.4];
        let w0 = [0.5, 0.1, -0.8, -0.3, 0.6, 0.2, 1.0, -0.7, 0.4];
        let x = t(&x0, 2).set_requires_grad(true);
        let w = t(&w0, 3).set_requires_grad(true);
        weighted_sum(&x, &w).backward();
        let gx: Vec<f64> = Vec::try_from(x.grad().reshape([-1])).unwrap();
        let gw: Vec<f64> = Vec::try_from(w.grad().reshape([-1])).unwrap();
        for (i, g) in gx.iter().enumerate() {
            let fd = central_difference(&x0, &w0, i, false);
            assert!((fd - g).abs() < 1e-7, "x[{i}]: {fd} vs {g}");
        }
        for (i, g) in gw.iter().enumerate() {
            let fd = central_difference(&x0, &w0, i, true);
            assert!((fd - g).abs() < 1e-7, "w[{i}]: {fd} vs {g}");
        }
    }

    #[test]
    fn init_has_unit_trainable_rows() {
        let w = init_cosine_weight(5, 8, Device::Cpu).unwrap();
        assert!(w.requires_grad() && w.size() == [5, 8]);
        assert_eq!(w.kind(), Kind::Float);
        let n = w.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        assert!((n - 1.0).abs().max().double_value(&[]) < 1e-5);
    }
}
