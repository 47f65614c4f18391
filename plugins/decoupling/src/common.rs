//! What the heads share: feature checks and the empty config (row normalisation is the SDK's
//! `lt_plugin::cosine::rows_normalized`).

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, Result};
use serde::Deserialize;

/// Features [B, D] checked against the head's width, as floats.
pub fn float_features(features: &Tensor, d: i64) -> Result<Tensor> {
    check::features(features, d)?;
    Ok(features.f_to_kind(Kind::Float)?)
}

/// The config of the heads without options: an empty object (or none).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoConfig {}
