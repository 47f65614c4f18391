//! The augmentation names manifests, recipes and `lt-data bench --aug` use, parsed once.

use crate::error::Error;
use serde::{Deserialize, Serialize};

/// A named augmentation pipeline. On disk (manifest.json, recipe TOML) it is the lowercase
/// name: `"cifar"` or `"imagenet"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Pipeline {
    /// Pad-and-crop, flip, normalise (CIFAR-10 statistics unless the manifest says others).
    Cifar,
    /// Random-resized-crop 224, flip, colour jitter, normalise.
    ImageNet,
}

impl Pipeline {
    /// Every pipeline, in the order error messages list them.
    pub const ALL: [Pipeline; 2] = [Pipeline::Cifar, Pipeline::ImageNet];

    /// The name on disk and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Pipeline::Cifar => "cifar",
            Pipeline::ImageNet => "imagenet",
        }
    }
}

impl std::fmt::Display for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Pipeline {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        crate::names::find(&Pipeline::ALL, Pipeline::name, name, || {
            format!("unknown augmentation {name:?}")
        })
    }
}

impl TryFrom<String> for Pipeline {
    type Error = Error;
    fn try_from(name: String) -> Result<Self, Error> {
        name.parse()
    }
}

impl From<Pipeline> for &'static str {
    fn from(p: Pipeline) -> Self {
        p.name()
    }
}

#[cfg(test)]
mod tests {
    use super::Pipeline;

    #[test]
    fn names_round_trip_and_unknown_names_are_one_line_errors() {
        for p in Pipeline::ALL {
            assert_eq!(p.name().parse::<Pipeline>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Pipeline>(&json).unwrap(), p);
        }
        let e = "autoaugment".parse::<Pipeline>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown augmentation \"autoaugment\" (known: cifar, imagenet)"
        );
        let e = serde_json::from_str::<Pipeline>("\"none\"").unwrap_err();
        assert!(
            e.to_string().starts_with("unknown augmentation \"none\""),
            "{e}"
        );
        assert!(serde_json::from_str::<Pipeline>("3").is_err());
    }
}
