//! The checks every component makes, so that a mistake is a clear one-line error instead of a
//! libtorch message or a silent NaN: shapes first thing in `forward`, and hyper-parameter bounds
//! ([`at_least`], [`positive`]) once in the constructor.
//!
//! ```
//! use lt_plugin::{check, tch::Tensor};
//! let logits = Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
//! assert!(check::logits_targets(&logits, &Tensor::from_slice(&[0i64, 2]), 3).is_ok());
//! let e = check::logits_targets(&logits, &Tensor::from_slice(&[0i64]), 3).unwrap_err();
//! assert_eq!(e.to_string(), "expected logits [B,3] and targets [B], got [2, 3] and [1]");
//! ```

use crate::{DatasetInfo, Error, Result};
use tch::Tensor;

/// Logits [B, K] with `k` classes and targets [B].
pub fn logits_targets(logits: &Tensor, targets: &Tensor, k: usize) -> Result<()> {
    let (b, width) = logits.size2()?;
    if width != k as i64 || targets.size() != [b] {
        return Err(Error::LogitsShape {
            k,
            logits: logits.size(),
            targets: targets.size(),
        });
    }
    Ok(())
}

/// Logits [B, K] with `k` classes (eval-time adjustments, which see no targets).
pub fn logits(logits: &Tensor, k: usize) -> Result<()> {
    let (_, width) = logits.size2()?;
    if width != k as i64 {
        return Err(Error::LogitsWidth {
            k,
            logits: logits.size(),
        });
    }
    Ok(())
}

/// Features [B, D] with `d` the head's width.
pub fn features(features: &Tensor, d: i64) -> Result<()> {
    match features.size().as_slice() {
        [_, width] if *width == d => Ok(()),
        s => Err(Error::FeaturesShape { d, got: s.to_vec() }),
    }
}

/// One training count per class.
pub fn class_counts(data: &DatasetInfo) -> Result<()> {
    if data.class_counts.len() != data.num_classes {
        return Err(Error::Data(format!(
            "{} class counts for {} classes",
            data.class_counts.len(),
            data.num_classes
        )));
    }
    Ok(())
}

/// (K, D) of a head: the class count and the feature width, both needed; `what` names the head.
pub fn head_dims(data: &DatasetInfo, what: &str) -> Result<(i64, i64)> {
    let (k, d) = (data.num_classes as i64, data.feature_dim as i64);
    if k == 0 || d == 0 {
        return Err(Error::Data(format!(
            "{what} needs the number of classes and the feature width, got {k} and {d}"
        )));
    }
    Ok((k, d))
}

/// A finite config value `value >= min`; `name` is the config key in the error.
///
/// ```
/// assert!(lt_plugin::check::at_least("gamma", 0.0, 0.0).is_ok());
/// let e = lt_plugin::check::at_least("epsilon", -2.0, -1.0).unwrap_err();
/// assert_eq!(e.to_string(), "epsilon must be >= -1, got -2");
/// ```
pub fn at_least(name: &str, value: f64, min: f64) -> Result<()> {
    if !(value.is_finite() && value >= min) {
        return Err(Error::Config(format!(
            "{name} must be >= {min}, got {value}"
        )));
    }
    Ok(())
}

/// A finite config value `value > 0`; `name` is the config key in the error.
pub fn positive(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::Config(format!("{name} must be > 0, got {value}")));
    }
    Ok(())
}
