//! The `kcl` configuration and its checks.

use lt_plugin::{check, Config, Error, Result};
use serde::Deserialize;

/// Hyper-parameters of the `kcl` loss (defaults: the official `main_kcl.py` ImageNet-LT run).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KclConfig {
    /// Same-class positives drawn per anchor besides its other view (`--posk 6`).
    pub k: usize,
    /// Softmax temperature (`--moco-t`, 0.07).
    pub temperature: f64,
    /// Width of the embedding the loss compares (`--moco-dim`, 128).
    pub proj_dim: usize,
    /// Projection D -> D -> ReLU -> proj_dim (true) or one linear layer D -> proj_dim (false,
    /// what the official README command runs: it does not pass `--mlp`).
    pub mlp: bool,
}

impl Default for KclConfig {
    fn default() -> Self {
        KclConfig {
            k: 6,
            temperature: 0.07,
            proj_dim: 128,
            mlp: true,
        }
    }
}

impl KclConfig {
    /// Parses and checks a component config; errors name the key.
    pub fn from_config(config: &Config) -> Result<KclConfig> {
        let c: KclConfig = config.parse_or_default()?;
        check::positive("temperature", c.temperature)?;
        if c.proj_dim == 0 {
            return Err(Error::Config("proj_dim must be >= 1, got 0".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_one_line_errors() {
        let c = KclConfig::from_config(&Config::from_json("{}").unwrap()).unwrap();
        assert_eq!(
            (c.k, c.temperature, c.proj_dim, c.mlp),
            (6, 0.07, 128, true)
        );
        for (json, msg) in [
            (r#"{"temperature": 0}"#, "temperature must be > 0, got 0"),
            (
                r#"{"temperature": -0.5}"#,
                "temperature must be > 0, got -0.5",
            ),
            (r#"{"proj_dim": 0}"#, "proj_dim must be >= 1, got 0"),
            (r#"{"k": -1}"#, "invalid value: integer `-1`"),
            (r#"{"posk": 6}"#, "unknown field `posk`"),
        ] {
            let e = KclConfig::from_config(&Config::from_json(json).unwrap())
                .expect_err(json)
                .to_string();
            assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
        }
    }
}
