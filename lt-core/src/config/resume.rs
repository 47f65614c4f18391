//! Which configuration keys may change when a run is resumed, and which ones did.

use super::Config;

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

impl Config {
    /// The dotted keys (`stage1.lr`, `stage2.loss_config.tau`) in which this configuration
    /// differs from `recorded` (a run directory's `config.toml`), leaving out
    /// [`RESUME_NEUTRAL_KEYS`]; empty when a run made with `recorded` may continue with this one.
    pub fn differing_keys(&self, recorded: &toml::Table) -> Vec<String> {
        let now: toml::Table = toml::from_str(&self.to_toml()).expect("config round-trips");
        let mut keys = Vec::new();
        differing_keys("", &as_written_now(recorded), &now, &mut keys);
        keys.retain(|k| !RESUME_NEUTRAL_KEYS.contains(&k.as_str()));
        keys
    }
}

/// `recorded` as this version writes it when it reads as a [`Config`], so that spellings which
/// read the same compare equal (`model = "ResNet32"`, kept as given by earlier versions, is
/// `"resnet32"` now). A table that does not read as a `Config` (a key this version lacks) is
/// compared as it is, and the comparison names the keys that differ.
fn as_written_now(recorded: &toml::Table) -> toml::Table {
    match toml::Value::Table(recorded.clone()).try_into::<Config>() {
        Ok(c) => toml::from_str(&c.to_toml()).expect("config round-trips"),
        Err(_) => recorded.clone(),
    }
}
