//! A component's configuration: the JSON object the host passed (from the recipe or the command
//! line), with a typed parse and a few quick accessors.

use crate::{Error, Result};
use serde::de::DeserializeOwned;

/// The JSON object of one component's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config(pub serde_json::Value);

impl Config {
    /// Parse a JSON text; an empty text is an empty object.
    pub fn from_json(text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config(serde_json::Value::Object(Default::default())));
        }
        let v: serde_json::Value = serde_json::from_str(text)?;
        if !v.is_object() {
            return Err(Error::ConfigNotObject);
        }
        Ok(Config(v))
    }

    /// Deserialize the whole config into a typed struct (use `#[serde(default)]` for defaults and
    /// `#[serde(deny_unknown_fields)]` to reject typos).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_value(self.0.clone())?)
    }

    /// Like [`Config::parse`], but an absent config (JSON null) is `T::default()`.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T> {
        if self.0.is_null() {
            return Ok(T::default());
        }
        self.parse()
    }

    /// The value of `key` converted by `get`, or `default` when the key is absent or null; a
    /// value `get` refuses is an error naming the key and the `expected` type.
    fn get_or<T>(
        &self,
        key: &str,
        default: T,
        expected: &'static str,
        get: impl Fn(&serde_json::Value) -> Option<T>,
    ) -> Result<T> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(v) => get(v).ok_or_else(|| Error::ConfigType {
                key: key.to_string(),
                expected,
                got: v.clone(),
            }),
        }
    }

    /// A number, or `default` when the key is absent; a non-number is an error naming the key.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        self.get_or(key, default, "a number", serde_json::Value::as_f64)
    }

    /// A boolean, or `default` when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        self.get_or(key, default, "true or false", serde_json::Value::as_bool)
    }

    /// A string, or `default` when the key is absent.
    pub fn str_or(&self, key: &str, default: &str) -> Result<String> {
        self.get_or(key, default.to_string(), "a string", |v| {
            v.as_str().map(str::to_string)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_accessors() {
        let c = Config::from_json(r#"{"gamma": 2.5, "on": true, "shape": "convex"}"#).unwrap();
        assert_eq!(c.f64_or("gamma", 0.0).unwrap(), 2.5);
        assert_eq!(c.f64_or("missing", 1.5).unwrap(), 1.5);
        assert!(c.bool_or("on", false).unwrap());
        assert_eq!(c.str_or("shape", "linear").unwrap(), "convex");
        let e = c.f64_or("shape", 0.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: `shape` must be a number, got \"convex\""
        );
        let e = c.bool_or("gamma", false).unwrap_err().to_string();
        assert_eq!(e, "config: `gamma` must be true or false, got 2.5");
        assert!(Config::from_json("[1]").is_err());
        assert!(Config::from_json("").unwrap().0.is_object());
    }
}
