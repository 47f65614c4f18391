//! The `[model_plugin_config]` of the `sade` model: classifier and test-time settings, with the
//! official CIFAR-100-LT values as defaults (Vanint/SADE-AgnosticLT,
//! `configs/config_cifar100_ir100_sade.json` and `configs/test_time_cifar100_ir100_sade.json`).

use crate::sgd::Sgd;
use lt_plugin::{check, Config, Error, Result};

/// The keys of the model's config.
const KEYS: [&str; 8] = [
    "use_norm",
    "scale",
    "test_time_epochs",
    "test_time_lr",
    "test_time_momentum",
    "test_time_weight_decay",
    "test_time_nesterov",
    "stop_below",
];

/// Refuses a key not in `known` (a typo would otherwise be ignored); `what` names the component.
pub fn only_keys(config: &Config, known: &[&str], what: &str) -> Result<()> {
    let Some(map) = config.0.as_object() else {
        return Ok(()); // null: all defaults (from_json refuses non-objects)
    };
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Error::Config(format!(
            "unknown key `{k}` in the {what} config (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The checked configuration of the `sade` model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Cosine classifiers times `scale` (true) or linear ones.
    pub use_norm: bool,
    /// Logit scale s of the cosine classifiers.
    pub scale: f64,
    /// Passes over each test split's images before evaluating it (0: no adaptation).
    pub test_time_epochs: usize,
    /// The optimiser of the aggregation weights.
    pub sgd: Sgd,
    /// Adaptation stops once an expert's weight softmax(w)_i falls below this (0: never).
    pub stop_below: f64,
}

impl ModelConfig {
    /// Parses and checks; every error is one line naming the key.
    pub fn parse(config: &Config) -> Result<ModelConfig> {
        only_keys(config, &KEYS, "sade model")?;
        let scale = config.f64_or("scale", 30.0)?;
        check::positive("scale", scale)?;
        let e = config.f64_or("test_time_epochs", 5.0)?;
        if !(e.is_finite() && e >= 0.0 && e.fract() == 0.0 && e <= 1e6) {
            return Err(Error::Config(format!(
                "test_time_epochs must be a whole number >= 0, got {e}"
            )));
        }
        let stop_below = config.f64_or("stop_below", 0.05)?;
        if !(0.0..1.0 / 3.0).contains(&stop_below) {
            return Err(Error::Config(format!(
                "stop_below must be in [0, 1/3) (the weights start at 1/3), got {stop_below}"
            )));
        }
        let sgd = Sgd {
            lr: config.f64_or("test_time_lr", 0.1)?,
            momentum: config.f64_or("test_time_momentum", 0.9)?,
            weight_decay: config.f64_or("test_time_weight_decay", 5e-4)?,
            nesterov: config.bool_or("test_time_nesterov", true)?,
        }
        .checked("test_time_")?;
        Ok(ModelConfig {
            use_norm: config.bool_or("use_norm", true)?,
            scale,
            test_time_epochs: e as usize,
            sgd,
            stop_below,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ModelConfig> {
        ModelConfig::parse(&Config::from_json(json).unwrap())
    }

    #[test]
    fn defaults_are_the_official_cifar_values() {
        let c = parse("{}").unwrap();
        assert!(c.use_norm && c.scale == 30.0 && c.test_time_epochs == 5);
        let want = Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: true,
        };
        assert_eq!((c.sgd, c.stop_below), (want, 0.05));
        assert_eq!(ModelConfig::parse(&Config::default()).unwrap(), c);
        let c = parse(r#"{"test_time_epochs": 0, "test_time_lr": 0.025}"#).unwrap();
        assert_eq!((c.test_time_epochs, c.sgd.lr), (0, 0.025));
    }

    #[test]
    fn bad_values_are_one_line_errors_naming_the_key() {
        for (json, msg) in [
            (r#"{"scale": 0}"#, "scale must be > 0, got 0"),
            (
                r#"{"test_time_epochs": -1}"#,
                "test_time_epochs must be a whole number >= 0",
            ),
            (
                r#"{"test_time_epochs": 2.5}"#,
                "test_time_epochs must be a whole number >= 0",
            ),
            (r#"{"stop_below": 0.5}"#, "stop_below must be in [0, 1/3)"),
            (r#"{"test_time_lr": -0.1}"#, "test_time_lr must be > 0"),
            (
                r#"{"test_time_momentum": 1.5}"#,
                "test_time_momentum must be < 1",
            ),
            (
                r#"{"num_experts": 4}"#,
                "unknown key `num_experts` in the sade model config",
            ),
            (
                r#"{"use_norm": 1}"#,
                "`use_norm` must be true or false, got 1",
            ),
            (
                r#"{"test_time_lr": "0.1"}"#,
                "`test_time_lr` must be a number",
            ),
        ] {
            let e = parse(json).expect_err(json).to_string();
            assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
        }
    }
}
