//! Run configuration in TOML. Layers, later ones winning: built-in defaults, the method recipe a
//! plugin carries, a `--config` file, then `--set key=value` overrides from the command line.
//! Unknown keys are errors, so a typo never silently falls back to a default.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One training stage (stage 1: representation; stage 2: classifier re-balancing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Linear per-epoch warm-up epochs.
    pub warmup_epochs: usize,
    /// "step", "cosine" (per iteration), "cosine-epoch" (set once per epoch, as MiSLAS and
    /// classifier-balancing do) or "constant".
    pub schedule: String,
    /// Step decay points as fractions of the stage (CIFAR-LT: 160/200 and 180/200).
    pub milestones: Vec<f64>,
    /// Factor applied at each milestone, cumulatively.
    pub gamma: f64,
    /// Sampler name: built-in (instance, class-balanced, sqrt, progressive, reversed) or a
    /// plugin's.
    pub sampler: String,
    /// Configuration handed to a plugin sampler.
    pub sampler_config: toml::Table,
    /// Steps per epoch; 0: ceil(training images / batch size).
    pub steps_per_epoch: usize,
    /// Loss: "ce" (built in) or a plugin loss component.
    pub loss: String,
    /// Configuration handed to the loss component.
    pub loss_config: toml::Table,
    /// Head: "linear" (built in) or a plugin head component.
    pub head: String,
    pub head_config: toml::Table,
    /// Mixup Beta(alpha, alpha); 0 disables it.
    pub mixup_alpha: f64,
    /// Learning-rate factor of the backbone and of the head parameters.
    pub backbone_lr_factor: f64,
    pub head_lr_factor: f64,
    /// Per-parameter factors by head parameter name (e.g. LWS scales), overriding head_lr_factor.
    pub param_lr_factors: toml::Table,
    /// Freeze the backbone (decoupled stage 2).
    pub freeze_backbone: bool,
    /// With a frozen backbone: update BN running statistics on this stage's data (MiSLAS
    /// shifted BN), affine parameters staying frozen.
    pub shift_bn: bool,
}

/// Where the end of the augmentation runs (`augment_on_device`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AugmentOnDevice {
    /// The device on CUDA (the copy and the host threads are the bottleneck there), the
    /// loader threads on the CPU (they work beside the step).
    Auto,
    /// The device: batches cross as uint8; CIFAR crop/flip and the normalisation run there.
    On,
    /// The host: batches cross normalised.
    Off,
}

impl TryFrom<String> for AugmentOnDevice {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "auto" => Ok(AugmentOnDevice::Auto),
            "on" => Ok(AugmentOnDevice::On),
            "off" => Ok(AugmentOnDevice::Off),
            _ => Err(format!("expected \"auto\", \"on\" or \"off\", got \"{s}\"")),
        }
    }
}

impl From<AugmentOnDevice> for String {
    fn from(a: AugmentOnDevice) -> String {
        match a {
            AugmentOnDevice::Auto => "auto",
            AugmentOnDevice::On => "on",
            AugmentOnDevice::Off => "off",
        }
        .to_string()
    }
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Dataset directory built by `lt-data build`.
    pub dataset: PathBuf,
    /// Run directory: metrics, plots, checkpoints.
    pub out: PathBuf,
    /// Backbone; empty: the dataset's recipe model.
    pub model: String,
    pub seed: u64,
    /// "auto", "cpu", "cuda", "cuda:N".
    pub device: String,
    /// libtorch intra-op threads; 0: all cores.
    pub threads: usize,
    /// Loader worker threads; 0: all cores.
    pub loader_threads: usize,
    /// Evaluate on the test split every N epochs (and always after the last).
    pub eval_every: usize,
    /// Mixed precision: "off" (float32, the papers' setting), "bf16", or "fp16" (with a
    /// dynamic loss scaler).
    pub amp: crate::amp::Precision,
    /// Convolution weights and inputs in channels-last memory format (tensor cores on CUDA).
    pub channels_last: bool,
    /// Where the end of the augmentation runs: "auto" (the device on CUDA, the loader threads
    /// on the CPU), "on" (the device: batches cross as uint8, CIFAR crop/flip and the
    /// normalisation run there) or "off" (the host: batches cross normalised).
    pub augment_on_device: AugmentOnDevice,
    /// Steps between reads of the training statistics from the device (the only host
    /// synchronisation of an epoch besides its end); 0: about once a second.
    pub sync_every: usize,
    /// Plugins to load (names or paths).
    pub plugins: Vec<String>,
    /// Upper reference top-1 for relative accuracy (A_t / A_u), percent; 0: none.
    pub upper_top1: f64,
    /// Split evaluated during and after training: "test", or "val" to tune hyper-parameters
    /// (tau-norm's tau, logit adjustment's tau) without touching the test set.
    pub eval_split: String,
    /// A stage-1 checkpoint to start stage 2 from, skipping stage 1; empty: none.
    pub init_checkpoint: PathBuf,
    /// Distributed rendezvous and collective timeout, seconds; 0: `LT_DIST_TIMEOUT` or 300.
    pub dist_timeout: u64,
    pub stage1: StageConfig,
    /// Present for two-stage (decoupled) methods.
    pub stage2: Option<StageConfig>,
}

/// Built-in defaults: plain cross-entropy, the CIFAR-LT schedule (200 epochs, 5 warm-up, x0.1 at
/// 160 and 180), batch 128, SGD 0.1 / 0.9 / 2e-4.
pub const DEFAULTS: &str = r#"
dataset = ""
out = "runs/run"
model = ""
seed = 0
device = "auto"
threads = 0
loader_threads = 0
eval_every = 10
amp = "off"
channels_last = false
augment_on_device = "auto"
sync_every = 0
plugins = []
upper_top1 = 0.0
dist_timeout = 0
init_checkpoint = ""
eval_split = "test"

[stage1]
epochs = 200
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 2e-4
warmup_epochs = 5
schedule = "step"
milestones = [0.8, 0.9]
gamma = 0.1
sampler = "instance"
sampler_config = {}
steps_per_epoch = 0
loss = "ce"
loss_config = {}
head = "linear"
head_config = {}
mixup_alpha = 0.0
backbone_lr_factor = 1.0
head_lr_factor = 1.0
param_lr_factors = {}
freeze_backbone = false
shift_bn = false
"#;

/// Defaults of a stage 2 when a recipe or an override asks for one: the decoupled
/// classifier-retraining setting (10 epochs, class-balanced, cosine, frozen backbone).
pub const STAGE2_DEFAULTS: &str = r#"
epochs = 10
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 2e-4
warmup_epochs = 0
schedule = "cosine-epoch"
milestones = []
gamma = 0.1
sampler = "class-balanced"
sampler_config = {}
steps_per_epoch = 0
loss = "ce"
loss_config = {}
head = "linear"
head_config = {}
mixup_alpha = 0.0
backbone_lr_factor = 0.0
head_lr_factor = 1.0
param_lr_factors = {}
freeze_backbone = true
shift_bn = false
"#;

/// Builds configurations layer by layer.
#[derive(Clone, Debug)]
pub struct Builder {
    table: toml::Table,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            table: toml::from_str(DEFAULTS).expect("built-in defaults parse"),
        }
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            // Component configs are replaced whole: a recipe's loss_config must not inherit keys
            // of another loss.
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) if !k.ends_with("_config") => {
                merge(a, b)
            }
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

impl Builder {
    /// Merges a TOML document (a recipe or a config file); `origin` names it in errors.
    pub fn layer(&mut self, text: &str, origin: &str) -> Result<&mut Self> {
        let mut t: toml::Table =
            toml::from_str(text).map_err(|e| anyhow!("{origin}: {}", parse_problem(text, &e)))?;
        // A plugin recipe may describe its method in a `[method]` table; it is documentation.
        t.remove("method");
        let mut table = self.table.clone();
        if t.contains_key("stage2") {
            add_stage2(&mut table);
        }
        merge(&mut table, t);
        self.commit(table, origin)
    }

    /// Applies `key.path=value`; the value is TOML (`3`, `0.1`, `"cosine"`, `[1, 2]`), or a bare
    /// string when it does not parse as TOML.
    pub fn set(&mut self, assignment: &str) -> Result<&mut Self> {
        let (key, value) = assignment
            .split_once('=')
            .with_context(|| format!("--set {assignment}: expected key=value"))?;
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let parts: Vec<&str> = key.trim().split('.').collect();
        let mut table = self.table.clone();
        if parts[0] == "stage2" {
            add_stage2(&mut table);
        }
        let mut t = &mut table;
        for p in &parts[..parts.len() - 1] {
            t = match t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(Default::default()))
            {
                toml::Value::Table(t) => t,
                _ => bail!("--set {assignment}: '{p}' is not a table"),
            };
        }
        t.insert(parts[parts.len() - 1].to_string(), value);
        self.commit(table, &format!("--set {}", key.trim()))
    }

    /// Takes `table` as the configuration so far if it still deserializes into [`Config`]:
    /// every layer is checked as it is applied, so that a wrongly typed value is an error even
    /// when a later layer would override it; the error names the layer (`origin`) and the key.
    fn commit(&mut self, table: toml::Table, origin: &str) -> Result<&mut Self> {
        deserialize(&table).map_err(|e| anyhow!("{}", shape_problem(origin, &e)))?;
        self.table = table;
        Ok(self)
    }

    /// Drops stage 2 (`--stage2-epochs 0`).
    pub fn without_stage2(&mut self) -> &mut Self {
        self.table.remove("stage2");
        self
    }

    /// The resolved, validated configuration.
    pub fn build(&self) -> Result<Config> {
        let c = deserialize(&self.table)
            .map_err(|e| anyhow!("{}", shape_problem("configuration", &e)))?;
        c.validate()?;
        Ok(c)
    }
}

/// Adds a stage 2 with its defaults unless there is one: a layer or `--set` that names a
/// stage-2 key asks for one.
fn add_stage2(table: &mut toml::Table) {
    if !table.contains_key("stage2") {
        let defaults = toml::from_str(STAGE2_DEFAULTS).expect("built-in stage-2 defaults parse");
        table.insert("stage2".into(), toml::Value::Table(defaults));
    }
}

fn deserialize(table: &toml::Table) -> Result<Config, toml::de::Error> {
    toml::Value::Table(table.clone()).try_into()
}

/// `origin: line L, column C: problem` for a document that is not TOML.
fn parse_problem(text: &str, e: &toml::de::Error) -> String {
    let problem = e.message().trim().replace('\n', ", ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {problem}")
        }
        None => problem,
    }
}

/// `origin: key: problem` for a table that does not deserialize into [`Config`]; the key is
/// left out when `origin` already is `--set key`.
fn shape_problem(origin: &str, e: &toml::de::Error) -> String {
    // toml reports `problem\nin `dotted.key``; an unknown key is named in the problem only.
    let text = e.to_string();
    let (problem, within) = match text.split_once("\nin `") {
        Some((p, k)) => (p.trim(), k.trim().trim_end_matches('`')),
        None => (text.trim(), ""),
    };
    let unknown = problem
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(name, _)| name);
    let key = match (within, unknown) {
        ("", Some(u)) => u.to_string(),
        (w, Some(u)) => format!("{w}.{u}"),
        (w, None) => w.to_string(),
    };
    if key.is_empty() || origin == format!("--set {key}") {
        format!("{origin}: {problem}")
    } else {
        format!("{origin}: {key}: {problem}")
    }
}

/// Keys that may differ when a run is resumed: they say where and how fast the run computes,
/// not what it computes. `sync_every` only changes how often statistics are read; `eval_every`
/// only which epochs report test metrics (and so which can become the best checkpoint):
/// evaluation runs without gradients in eval mode and every epoch re-seeds its generators, so
/// the weights of each epoch are the same whatever the cadence.
pub const RESUME_NEUTRAL_KEYS: &[&str] = &[
    "threads",
    "loader_threads",
    "device",
    "dist_timeout",
    "out",
    "eval_every",
    "sync_every",
];

/// The dotted keys whose values differ between two configuration tables, sorted; tables are
/// compared key by key, other values whole.
fn differing_keys(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                differing_keys(&path, x, y, out)
            }
            (x, y) if x != y => out.push(path),
            _ => {}
        }
    }
}

impl StageConfig {
    fn validate(&self, name: &str) -> Result<()> {
        if self.batch_size < 2 {
            bail!(
                "{name}.batch_size: must be at least 2 (batch norm cannot train on one image), got {}",
                self.batch_size
            );
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            bail!("{name}.lr must be a non-negative number");
        }
        if !["step", "cosine", "cosine-epoch", "constant"].contains(&self.schedule.as_str()) {
            bail!(
                "{name}.schedule must be step, cosine, cosine-epoch or constant, got '{}'",
                self.schedule
            );
        }
        if self.milestones.iter().any(|m| !(0.0..=1.0).contains(m)) {
            bail!("{name}.milestones are fractions of the stage, in [0, 1]");
        }
        if self.shift_bn && !self.freeze_backbone {
            bail!("{name}.shift_bn needs freeze_backbone = true");
        }
        Ok(())
    }
}

impl Config {
    /// Checks what the types cannot say; [`Builder::build`] and the trainer call it.
    pub fn validate(&self) -> Result<()> {
        if self.dataset.as_os_str().is_empty() {
            bail!("no dataset: give --dataset DIR (built with lt-data build)");
        }
        self.stage1.validate("stage1")?;
        if let Some(s) = &self.stage2 {
            s.validate("stage2")?;
        }
        if self.eval_every == 0 {
            bail!("eval_every must be at least 1");
        }
        if !self.init_checkpoint.as_os_str().is_empty() && self.stage2.is_none() {
            bail!("init_checkpoint: it replaces stage 1, so a stage 2 is needed");
        }
        Ok(())
    }

    /// The configuration as TOML (for `--print-config` and checkpoints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }

    /// The dotted keys (`stage1.lr`, `stage2.loss_config.tau`) in which this configuration
    /// differs from `recorded` (a run directory's `config.toml`), leaving out
    /// [`RESUME_NEUTRAL_KEYS`]; empty when a run made with `recorded` may continue with this one.
    pub fn differing_keys(&self, recorded: &toml::Table) -> Vec<String> {
        let now: toml::Table = toml::from_str(&self.to_toml()).expect("config round-trips");
        let mut keys = Vec::new();
        differing_keys("", recorded, &now, &mut keys);
        keys.retain(|k| !RESUME_NEUTRAL_KEYS.contains(&k.as_str()));
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_and_overrides_resolve() {
        let mut b = Builder::default();
        b.set("dataset=data/x").unwrap();
        b.layer(
            "[stage2]\nloss = \"las\"\nloss_config = { smooth_head = 0.3 }\n",
            "recipe",
        )
        .unwrap();
        b.set("stage1.epochs=30")
            .unwrap()
            .set("stage2.head=lws")
            .unwrap()
            .set("stage1.loss_config.gamma=2.0")
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.stage1.epochs, 30);
        assert_eq!(c.stage1.loss_config["gamma"].as_float(), Some(2.0));
        let s2 = c.stage2.as_ref().unwrap();
        assert_eq!(
            (s2.loss.as_str(), s2.head.as_str(), s2.epochs),
            ("las", "lws", 10)
        );
        assert!(s2.freeze_backbone);
        let again: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let mut b = Builder::default();
        b.set("dataset=d").unwrap();
        let e = b.set("stage1.epocs=3").unwrap_err().to_string();
        assert!(
            e.starts_with("--set stage1.epocs: unknown field `epocs`"),
            "{e}"
        );
        let mut b = Builder::default();
        b.set("dataset=d")
            .unwrap()
            .set("stage1.schedule=linear")
            .unwrap();
        assert!(b.build().unwrap_err().to_string().contains("schedule"));
        assert!(Builder::default()
            .build()
            .unwrap_err()
            .to_string()
            .contains("no dataset"));
        let mut b = Builder::default();
        b.set("dataset=d")
            .unwrap()
            .set("stage1.batch_size=1")
            .unwrap();
        let e = b.build().unwrap_err().to_string();
        assert!(
            e.starts_with("stage1.batch_size: must be at least 2"),
            "{e}"
        );
    }

    #[test]
    fn every_layer_is_type_checked_and_named() {
        let mut b = Builder::default();
        let e = b
            .layer("[stage1]\nepochs = \"thirty\"\n", "my.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "my.toml: stage1.epochs: invalid type: string \"thirty\", expected usize"
        );
        let e = b.layer("[stage2]\nlos = 1\n", "r.toml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("r.toml: stage2.los: unknown field"),
            "{e}"
        );
        let e = b.set("seed=-1").unwrap_err().to_string();
        assert_eq!(e, "--set seed: invalid value: integer `-1`, expected u64");
        let e = b.layer("seed = 1\nx = \n", "bad.toml").unwrap_err();
        assert!(
            e.to_string().starts_with("bad.toml: line 2, column 5: "),
            "{e}"
        );
    }

    #[test]
    fn differing_keys_name_what_changes_the_result() {
        let mut b = Builder::default();
        b.set("dataset=d").unwrap();
        let a = b.build().unwrap();
        let recorded: toml::Table = toml::from_str(&a.to_toml()).unwrap();
        b.set("threads=3").unwrap().set("eval_every=1").unwrap();
        b.set("out=elsewhere").unwrap().set("device=cpu").unwrap();
        assert!(b.build().unwrap().differing_keys(&recorded).is_empty());
        b.set("stage1.lr=0.5")
            .unwrap()
            .set("stage2.loss=las")
            .unwrap();
        b.set("stage1.loss_config.gamma=2").unwrap();
        assert_eq!(
            b.build().unwrap().differing_keys(&recorded),
            ["stage1.loss_config.gamma", "stage1.lr", "stage2"]
        );
    }
}
