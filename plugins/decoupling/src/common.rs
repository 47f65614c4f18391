//! What the heads share: feature checks, row normalisation and the empty config.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, Result};
use serde::Deserialize;

/// Features [B, D] checked against the head's width, as floats.
pub fn float_features(features: &Tensor, d: i64) -> Result<Tensor> {
    check::features(features, d)?;
    Ok(features.f_to_kind(Kind::Float)?)
}

/// Rows divided by their L2 norm (a zero row stays zero).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x
        .f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    Ok(x.f_div(&n)?)
}

/// The config of the heads without options: an empty object (or none).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoConfig {}
