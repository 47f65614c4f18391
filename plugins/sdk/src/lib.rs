//! The plugin ABI of lt-train and the SDK plugin authors write against.
//!
//! A plugin is a `cdylib` crate that implements one or more of the safe traits [`Loss`], [`Head`]
//! and [`Sampler`] against tch, and exports them with one [`export_plugin!`] invocation. The
//! macro generates the two C symbols the host looks for (see [`abi`]) and wraps every call into
//! plugin code in `catch_unwind`, so an `Err` or a panic reaches the host as an error message,
//! never as an unwinding across the C boundary. See `docs/plugin-guide.md` for a walk-through.

pub mod abi;
pub mod prior;
#[doc(hidden)]
pub mod runtime;

pub use abi::StepCtx;
pub use tch;

use serde::de::DeserializeOwned;
use tch::{Device, Tensor};

/// An error a component reports to the host; the host prefixes it with the plugin file and the
/// component name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError(pub String);

impl PluginError {
    pub fn new(msg: impl Into<String>) -> Self {
        PluginError(msg.into())
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<tch::TchError> for PluginError {
    fn from(e: tch::TchError) -> Self {
        PluginError(format!("tch: {e}"))
    }
}
impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        PluginError(format!("config: {e}"))
    }
}
impl From<String> for PluginError {
    fn from(e: String) -> Self {
        PluginError(e)
    }
}
impl From<&str> for PluginError {
    fn from(e: &str) -> Self {
        PluginError(e.to_string())
    }
}

/// Result type of every plugin method.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// A component's configuration: the JSON object the host passed (from the recipe / command line).
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
            return Err(PluginError::new("config: expected a JSON object"));
        }
        Ok(Config(v))
    }

    /// Deserialize the whole config into a typed struct (use `#[serde(default)]` for defaults and
    /// `#[serde(deny_unknown_fields)]` to reject typos).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_value(self.0.clone())?)
    }

    /// A number, or `default` when the key is absent; a non-number is an error naming the key.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| PluginError(format!("config: `{key}` must be a number, got {v}"))),
        }
    }

    /// A boolean, or `default` when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| {
                PluginError(format!("config: `{key}` must be true or false, got {v}"))
            }),
        }
    }

    /// A string, or `default` when the key is absent.
    pub fn str_or(&self, key: &str, default: &str) -> Result<String> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(default.to_string()),
            Some(v) => v
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| PluginError(format!("config: `{key}` must be a string, got {v}"))),
        }
    }
}

/// What a component knows about the training set when it is created.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub num_classes: usize,
    /// Training images per class, in label order.
    pub class_counts: Vec<u64>,
    /// Width of the backbone's feature vector; 0 when unknown (samplers, losses).
    pub feature_dim: usize,
    pub seed: u64,
    /// Where the component's own tensors (head parameters, class weights) should live.
    pub device: Device,
}

impl DatasetInfo {
    /// Class counts as a float tensor [K] on `self.device`, the usual starting point of
    /// re-weighting and margin formulas.
    pub fn class_counts_tensor(&self) -> Tensor {
        let v: Vec<f64> = self.class_counts.iter().map(|&c| c as f64).collect();
        Tensor::from_slice(&v)
            .to_kind(tch::Kind::Float)
            .to_device(self.device)
    }
}

/// A state tensor of a head, as the host sees it: trainable ones go to the optimiser, all of them
/// go into checkpoints (load by copying into `tensor` under `no_grad`).
#[derive(Debug)]
pub struct NamedTensor {
    pub name: String,
    /// Shares storage with the head's own tensor, so in-place updates reach the head.
    pub tensor: Tensor,
    pub trainable: bool,
}

/// A training loss. `logits` are [B,K] floats, `targets` [B] int64 class indices.
pub trait Loss: Send {
    /// The scalar loss, keeping the autograd graph back to `logits`.
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, ctx: &StepCtx) -> Result<Tensor>;

    /// Eval-time (post-hoc) logit adjustment; `None` means evaluate the logits unchanged.
    fn adjust_logits(&mut self, _logits: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Called at the start of every epoch (e.g. DRW switches re-weighting on at a given epoch).
    fn on_epoch(&mut self, _ctx: &StepCtx) -> Result<()> {
        Ok(())
    }
}

/// A classifier head mapping backbone features [B,D] to logits [B,K].
pub trait Head: Send {
    fn forward(&mut self, features: &Tensor, train: bool) -> Result<Tensor>;

    /// Every state tensor, as shallow clones (`Tensor::shallow_clone`).
    fn named_tensors(&self) -> Vec<NamedTensor>;

    /// Whether [`Head::init_from_linear`] should be called with the stage-1 classifier.
    fn wants_linear_init(&self) -> bool {
        false
    }

    /// Initialise from the stage-1 linear head: `weight` [K,D], `bias` [K].
    fn init_from_linear(&mut self, _weight: &Tensor, _bias: Option<&Tensor>) -> Result<()> {
        Ok(())
    }

    /// Whether [`Head::fit`] must be called before evaluation (e.g. NCM class means).
    fn needs_fit(&self) -> bool {
        false
    }

    /// Fit non-gradient state from the training features [N,D] and labels [N] int64.
    fn fit(&mut self, _features: &Tensor, _labels: &Tensor) -> Result<()> {
        Ok(())
    }
}

/// A sampler choosing which training images an epoch visits, and in which order.
pub trait Sampler: Send {
    /// Indices into the training set for `epoch` (zero-based).
    fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>>;
}

/// Constructor of a loss or head component.
pub type MakeFn<T> = fn(&Config, &DatasetInfo) -> Result<Box<T>>;
/// Constructor of a sampler component; the slice holds the training labels.
pub type MakeSamplerFn = fn(&Config, &DatasetInfo, &[u32]) -> Result<Box<dyn Sampler>>;

/// Exports a plugin: generates `lt_plugin_abi_version` and `lt_plugin_v1`.
///
/// ```ignore
/// lt_plugin::export_plugin! {
///     name: "example-loss",
///     version: env!("CARGO_PKG_VERSION"),
///     description: "Focal loss, as a worked example",
///     recipe: None,                       // or Some(include_str!("recipe.toml"))
///     losses: { "focal" => (FocalLoss::new, "Focal loss (Lin et al. 2017), gamma") },
///     heads: { },
///     samplers: { },
/// }
/// ```
/// Each constructor is `fn(&Config, &DatasetInfo) -> Result<T>` where `T: Loss` (or `Head`);
/// sampler constructors take the training labels as a third argument `&[u32]`.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        description: $desc:expr,
        recipe: $recipe:expr,
        losses: { $( $lname:literal => ($lmake:expr, $ldoc:expr) ),* $(,)? },
        heads: { $( $hname:literal => ($hmake:expr, $hdoc:expr) ),* $(,)? },
        samplers: { $( $sname:literal => ($smake:expr, $sdoc:expr) ),* $(,)? } $(,)?
    ) => {
        /// Entry point 1 of the lt-train plugin ABI: the ABI version, checked before anything else.
        #[no_mangle]
        pub extern "C" fn lt_plugin_abi_version() -> u32 {
            $crate::abi::ABI_VERSION
        }

        /// Entry point 2 of the lt-train plugin ABI: the version-1 table (null if building it failed).
        #[no_mangle]
        pub extern "C" fn lt_plugin_v1() -> *const $crate::abi::PluginV1 {
            $crate::runtime::table(|| $crate::runtime::Registry {
                name: $name,
                version: $version,
                description: $desc,
                recipe: $recipe,
                losses: vec![ $( $crate::runtime::Entry {
                    name: $lname,
                    doc: $ldoc,
                    make: |c, i| {
                        let v = ($lmake)(c, i)?;
                        Ok(Box::new(v) as Box<dyn $crate::Loss>)
                    },
                } ),* ],
                heads: vec![ $( $crate::runtime::Entry {
                    name: $hname,
                    doc: $hdoc,
                    make: |c, i| {
                        let v = ($hmake)(c, i)?;
                        Ok(Box::new(v) as Box<dyn $crate::Head>)
                    },
                } ),* ],
                samplers: vec![ $( $crate::runtime::SamplerEntry {
                    name: $sname,
                    doc: $sdoc,
                    make: |c, i, l| {
                        let v = ($smake)(c, i, l)?;
                        Ok(Box::new(v) as Box<dyn $crate::Sampler>)
                    },
                } ),* ],
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tch_version_matches_workspace() {
        let ws = include_str!("../../../Cargo.toml");
        let line = ws
            .lines()
            .find(|l| l.trim_start().starts_with("tch ="))
            .expect("workspace declares tch");
        assert!(
            line.contains(&format!("\"{}\"", abi::TCH_VERSION)),
            "abi::TCH_VERSION {} does not match workspace line `{line}`",
            abi::TCH_VERSION
        );
    }

    #[test]
    fn config_accessors() {
        let c = Config::from_json(r#"{"gamma": 2.5, "on": true, "shape": "convex"}"#).unwrap();
        assert_eq!(c.f64_or("gamma", 0.0).unwrap(), 2.5);
        assert_eq!(c.f64_or("missing", 1.5).unwrap(), 1.5);
        assert!(c.bool_or("on", false).unwrap());
        assert_eq!(c.str_or("shape", "linear").unwrap(), "convex");
        let e = c.f64_or("shape", 0.0).unwrap_err();
        assert!(e.0.contains("`shape` must be a number"), "{e}");
        assert!(Config::from_json("[1]").is_err());
        assert!(Config::from_json("").unwrap().0.is_object());
    }
}
