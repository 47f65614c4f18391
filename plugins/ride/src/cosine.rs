//! The cosine ("normed linear") classifier each RIDE expert uses with the LDAM variant on CIFAR:
//! `z_c = s <x/|x|, w_c/|w_c|>`, no bias. The official `ResNet_s` (use_norm) multiplies by
//! `s = 30` inside the network, so the expert logits the loss sees are already scaled.

use lt_plugin::tch::{Device, Kind, Tensor};
use lt_plugin::Result;

/// Rows divided by their L2 norm, the norm floored at 1e-12 (as `F.normalize`).
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
/// normalisation, as the official `NormedLinear` initialises its columns (tch's generator).
pub fn init_weight(k: i64, d: i64, device: Device) -> Result<Tensor> {
    let w = Tensor::f_empty([k, d], (Kind::Float, device))?.f_uniform_(-1.0, 1.0)?;
    Ok(rows_normalized(&w)?.f_detach()?.set_requires_grad(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
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

    #[test]
    fn gradients_match_finite_differences() {
        let x0 = [0.3, -1.1, 0.7, 0.2, 0.9, -0.4];
        let w0 = [0.5, 0.1, -0.8, -0.3, 0.6, 0.2, 1.0, -0.7, 0.4];
        let f = |x: &[f64], w: &[f64]| {
            // A weighted sum so every logit's gradient counts differently.
            let z = cosine_logits(&t(x, 2), &t(w, 3), 3.0).unwrap();
            let c = t(&[1.0, -2.0, 0.5, 0.3, 1.5, -1.0], 2);
            (z * c).sum(Kind::Double)
        };
        let x = t(&x0, 2).set_requires_grad(true);
        let w = t(&w0, 3).set_requires_grad(true);
        let z = cosine_logits(&x, &w, 3.0).unwrap();
        let c = t(&[1.0, -2.0, 0.5, 0.3, 1.5, -1.0], 2);
        (z * c).sum(Kind::Double).backward();
        let gx: Vec<f64> = Vec::try_from(x.grad().reshape([-1])).unwrap();
        let gw: Vec<f64> = Vec::try_from(w.grad().reshape([-1])).unwrap();
        let h = 1e-6;
        for i in 0..x0.len() {
            let (mut p, mut q) = (x0, x0);
            p[i] += h;
            q[i] -= h;
            let fd = (f(&p, &w0).double_value(&[]) - f(&q, &w0).double_value(&[])) / (2.0 * h);
            assert!((fd - gx[i]).abs() < 1e-7, "x[{i}]: {fd} vs {}", gx[i]);
        }
        for i in 0..w0.len() {
            let (mut p, mut q) = (w0, w0);
            p[i] += h;
            q[i] -= h;
            let fd = (f(&x0, &p).double_value(&[]) - f(&x0, &q).double_value(&[])) / (2.0 * h);
            assert!((fd - gw[i]).abs() < 1e-7, "w[{i}]: {fd} vs {}", gw[i]);
        }
    }

    #[test]
    fn init_has_unit_trainable_rows() {
        let w = init_weight(5, 8, Device::Cpu).unwrap();
        assert!(w.requires_grad() && w.size() == [5, 8]);
        let n = w.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        assert!((n - 1.0).abs().max().double_value(&[]) < 1e-5);
    }
}
