//! Parameter initialisation shared by heads.

use crate::Result;
use tch::{Device, Kind, Tensor};

/// A float tensor of `shape` drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with tch's
/// generator (seeded by the trainer): PyTorch's default `nn.Linear` initialisation, for the
/// weight [K, D] and the bias [K] alike (both with `fan_in` = D). Not trainable; call
/// `set_requires_grad(true)` for a parameter.
pub fn linear(shape: &[i64], fan_in: i64, device: Device) -> Result<Tensor> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    Ok(Tensor::f_rand(shape, (Kind::Float, device))? * (2.0 * bound) - bound)
}

/// A linear classifier's `(weight [K, D], bias [K])`, drawn in that order with [`linear`]
/// (`fan_in` = D), as PyTorch's `nn.Linear(D, K)` initialises them; both trainable or both not.
pub fn linear_layer(k: i64, d: i64, device: Device, trainable: bool) -> Result<(Tensor, Tensor)> {
    let weight = linear(&[k, d], d, device)?.set_requires_grad(trainable);
    let bias = linear(&[k], d, device)?.set_requires_grad(trainable);
    Ok((weight, bias))
}
