//! Helpers of the optimiser's unit tests: float64 parameters and hand-set gradients.

use tch::{Kind, Tensor};

/// A float64 parameter (requires a gradient) with these values.
pub(super) fn param(v: &[f64]) -> Tensor {
    Tensor::from_slice(v).set_requires_grad(true)
}

/// Sets p.grad to `g` by back-propagating sum(p * g).
pub(super) fn set_grad(p: &Tensor, g: &[f64]) {
    let mut p2 = p.shallow_clone();
    p2.zero_grad();
    (p * Tensor::from_slice(g)).sum(Kind::Double).backward();
}

/// The values of a float64 tensor.
pub(super) fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach()).unwrap()
}
