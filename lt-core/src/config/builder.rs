//! Builds a [`Config`] layer by layer (defaults, recipe, `--config` file, `--set`), type-checking
//! every layer as it is applied, with errors that name the layer and the key.

use super::defaults::{DEFAULTS, STAGE2_DEFAULTS};
use super::Config;
use crate::{Error, Result};

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

/// Merges `from` into `into`, tables key by key except component configs.
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
        let mut t: toml::Table = toml::from_str(text)
            .map_err(|e| Error::Config(format!("{origin}: {}", parse_problem(text, &e))))?;
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
            .ok_or_else(|| Error::Config(format!("--set {assignment}: expected key=value")))?;
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
                _ => {
                    return Err(Error::Config(format!(
                        "--set {assignment}: '{p}' is not a table"
                    )))
                }
            };
        }
        t.insert(parts[parts.len() - 1].to_string(), value);
        self.commit(table, &format!("--set {}", key.trim()))
    }

    /// Takes `table` as the configuration so far if it still deserializes into [`Config`]:
    /// every layer is checked as it is applied, so that a wrongly typed value is an error even
    /// when a later layer would override it; the error names the layer (`origin`) and the key.
    fn commit(&mut self, table: toml::Table, origin: &str) -> Result<&mut Self> {
        deserialize(&table).map_err(|e| Error::Config(shape_problem(origin, &e)))?;
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
            .map_err(|e| Error::Config(shape_problem("configuration", &e)))?;
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
