//! `init_backbone`: a safetensors state dict (torchvision, MiSLAS or lt-train names) copied
//! into a freshly built model. Every backbone variable must be there with its shape, nothing
//! else may be; the head loads only when its shape fits the dataset's classes.

use super::naming::{Naming, Part};
use super::{stfile, WeightsError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Kind, Tensor};

/// What happened to the model's head.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadInit {
    /// The file's head was copied into the model's.
    Loaded,
    /// The file has no head; the model's keeps its initialisation.
    Absent,
    /// The file's head has another shape (another class count); the model's keeps its
    /// initialisation (the ImageNet-pretrained to Places-LT protocol).
    Mismatch { file: Vec<i64>, model: Vec<i64> },
}

/// What [`init_backbone`] loaded.
#[derive(Clone, Debug)]
pub struct InitReport {
    pub path: PathBuf,
    pub naming: Naming,
    /// Backbone tensors copied.
    pub backbone: usize,
    pub head: HeadInit,
    /// Plugin-head tensors of an lt-train file, not loaded (the run's stage builds its own).
    pub plugin_tensors: usize,
}

impl InitReport {
    /// The one line to tell the user when the head was not loaded.
    pub fn notice(&self) -> Option<String> {
        let why = match &self.head {
            HeadInit::Loaded => return None,
            HeadInit::Absent => "has no head".to_string(),
            HeadInit::Mismatch { file, model } => {
                format!("has a head of shape {file:?}, the model's is {model:?}")
            }
        };
        Some(format!(
            "init_backbone {}: {why}; the head keeps its initialisation",
            self.path.display()
        ))
    }
}

/// The file's tensors sorted into the model's parts.
struct Sorted {
    backbone: Vec<(String, String, Tensor)>,
    head: BTreeMap<String, Tensor>,
    plugin: usize,
}

/// Copies the weights in `path` into `vs` (a model built by [`crate::model::build`] for `arch`).
pub fn init_backbone(path: &Path, vs: &VarStore, arch: &str) -> Result<InitReport, WeightsError> {
    let file = stfile::read(path)?;
    let naming = Naming::detect(file.tensors.iter().map(|(k, _)| k.as_str()));
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let err = Context { path, arch };
    let sorted = sort(file.tensors, naming, &vars, &err)?;
    let missing: Vec<&String> = vars
        .keys()
        .filter(|v| v.starts_with("backbone."))
        .filter(|v| !sorted.backbone.iter().any(|(_, var, _)| var == *v))
        .collect();
    if let Some(first) = missing.first() {
        return Err(WeightsError::Missing {
            path: path.to_path_buf(),
            key: naming.file_key(first),
            arch: arch.to_string(),
            others: missing.len() - 1,
        });
    }
    for (key, var, t) in &sorted.backbone {
        err.check(key, t, &vars[var])?;
    }
    let head = head_fit(&sorted.head, &vars);
    tch::no_grad(|| -> Result<(), tch::TchError> {
        for (_, var, t) in &sorted.backbone {
            vars[var].shallow_clone().f_copy_(t)?;
        }
        if head == HeadInit::Loaded {
            for (field, t) in &sorted.head {
                vars[&format!("head.{field}")].shallow_clone().f_copy_(t)?;
            }
        }
        Ok(())
    })
    .map_err(|e| WeightsError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(InitReport {
        path: path.to_path_buf(),
        naming,
        backbone: sorted.backbone.len(),
        head,
        plugin_tensors: sorted.plugin,
    })
}

/// What the errors name.
struct Context<'a> {
    path: &'a Path,
    arch: &'a str,
}

impl Context<'_> {
    fn unexpected(&self, key: &str, others: usize) -> WeightsError {
        WeightsError::Unexpected {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            arch: self.arch.to_string(),
            others,
        }
    }

    /// The file's tensor `key` fits the model variable `var`: floating-point, same shape.
    fn check(&self, key: &str, t: &Tensor, var: &Tensor) -> Result<(), WeightsError> {
        if !matches!(
            t.kind(),
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
        ) {
            return Err(WeightsError::Kind {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                kind: format!("{:?}", t.kind()),
            });
        }
        if t.size() != var.size() {
            return Err(WeightsError::Shape {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                arch: self.arch.to_string(),
                file: t.size(),
                model: var.size(),
            });
        }
        Ok(())
    }
}

/// Sorts the file's tensors into backbone variables and head fields; any other key is an
/// error naming the first (and counting the rest).
fn sort(
    tensors: Vec<(String, Tensor)>,
    naming: Naming,
    vars: &BTreeMap<String, Tensor>,
    err: &Context,
) -> Result<Sorted, WeightsError> {
    let mut s = Sorted {
        backbone: Vec::new(),
        head: BTreeMap::new(),
        plugin: 0,
    };
    let mut unexpected = Vec::new();
    for (key, t) in tensors {
        match naming.classify(&key) {
            Part::Backbone(var) if vars.contains_key(&var) => s.backbone.push((key, var, t)),
            Part::Head(field) if field == "weight" || field == "bias" => {
                err.check(&key, &t, &t)?;
                s.head.insert(field, t);
            }
            Part::PluginHead => s.plugin += 1,
            Part::Ignored => {}
            _ => unexpected.push(key),
        }
    }
    match unexpected.first() {
        Some(first) => Err(err.unexpected(first, unexpected.len() - 1)),
        None => Ok(s),
    }
}

/// Whether the file's head (weight and bias) fits the model's.
fn head_fit(head: &BTreeMap<String, Tensor>, vars: &BTreeMap<String, Tensor>) -> HeadInit {
    let (Some(w), Some(b)) = (head.get("weight"), head.get("bias")) else {
        return HeadInit::Absent;
    };
    let (mw, mb) = (&vars["head.weight"], &vars["head.bias"]);
    if w.size() == mw.size() && b.size() == mb.size() {
        HeadInit::Loaded
    } else {
        HeadInit::Mismatch {
            file: w.size(),
            model: mw.size(),
        }
    }
}
