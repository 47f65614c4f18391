//! The map from features to logits (a head, a plugin head, a post-hoc adjustment) as one
//! affine layer `W f + b`, when it is one: probed at `f = 0` and at the unit vectors (in
//! float64 where the head computes in it, so a linear head comes back bit for bit), then
//! verified on random features.

use crate::Result;
use tch::{Device, Kind, Tensor};

/// Random feature vectors the fit is verified on.
const CHECKS: i64 = 16;
/// Largest deviation allowed, relative to the largest logit (at least 1).
const TOLERANCE: f64 = 1e-4;

/// `logits = features @ weight.T + bias`, float32 on the CPU.
pub struct Affine {
    /// `[num_classes, feature_dim]`.
    pub weight: Tensor,
    /// `[num_classes]`.
    pub bias: Tensor,
}

/// The affine map `logits` computes on `dim`-wide features, or `Err(deviation)` when it is not
/// affine (the largest difference between its logits and the fit's on random features).
pub fn fold(
    logits: &mut dyn FnMut(&Tensor) -> Result<Tensor>,
    dim: i64,
) -> Result<std::result::Result<Affine, f64>> {
    let opts = (Kind::Double, Device::Cpu);
    let probe = Tensor::f_cat(
        &[Tensor::f_zeros([1, dim], opts)?, Tensor::f_eye(dim, opts)?],
        0,
    )?;
    // float64 where the head takes it; the head's own precision otherwise.
    let out = match logits(&probe) {
        Ok(l) if l.kind() == Kind::Double => l,
        _ => logits(&probe.f_to_kind(Kind::Float)?)?.f_to_kind(Kind::Double)?,
    }
    .f_to_device(Device::Cpu)?;
    let bias = out.f_get(0)?;
    let weight = out.f_narrow(0, 1, dim)?.f_sub(&bias)?.f_tr()?;
    let feats = Tensor::f_rand([CHECKS, dim], (Kind::Float, Device::Cpu))?.f_mul_scalar(2.0)?;
    let want = logits(&feats)?
        .f_to_kind(Kind::Double)?
        .f_to_device(Device::Cpu)?;
    let got = feats
        .f_to_kind(Kind::Double)?
        .f_linear(&weight, Some(&bias))?;
    let deviation = want.f_sub(&got)?.f_abs()?.f_max()?.f_double_value(&[])?;
    let scale = want.f_abs()?.f_max()?.f_double_value(&[])?.max(1.0);
    // NaN (a head undefined at f = 0) fails too.
    if deviation.is_nan() || deviation > TOLERANCE * scale {
        return Ok(Err(deviation));
    }
    Ok(Ok(Affine {
        weight: weight.f_to_kind(Kind::Float)?,
        bias: bias.f_to_kind(Kind::Float)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_maps_fold_exactly_and_others_are_refused() {
        let w = Tensor::randn([5, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([5], (Kind::Float, Device::Cpu));
        let shift = Tensor::randn([5], (Kind::Float, Device::Cpu));
        // A linear head computing in float64 when given it, then a post-hoc shift.
        let mut lin = |f: &Tensor| -> Result<Tensor> {
            let (w, b) = (w.to_kind(f.kind()), b.to_kind(f.kind()));
            Ok(f.linear(&w, Some(&b)) - &shift)
        };
        let a = fold(&mut lin, 8).unwrap().unwrap();
        assert!(a.weight.equal(&w));
        assert!(a.bias.equal(&(&b - &shift)));
        // A float32-only head (as plugin heads are): close, not exact.
        let mut f32_only = |f: &Tensor| -> Result<Tensor> { Ok(f.f_linear(&w, Some(&b))? * 1.5) };
        let a = fold(&mut f32_only, 8).unwrap().unwrap();
        assert!(a.weight.allclose(&(&w * 1.5), 1e-5, 1e-6, false));
        // A cosine classifier is not affine.
        let mut cosine = |f: &Tensor| -> Result<Tensor> {
            let fn_ = f / (f.norm_scalaropt_dim(2, [1], true) + 1e-12);
            Ok(fn_.f_linear(&w.to_kind(f.kind()), None::<&Tensor>)? * 16.0)
        };
        let dev = fold(&mut cosine, 8).unwrap().err().unwrap();
        assert!(dev > 0.1, "{dev}");
    }
}
