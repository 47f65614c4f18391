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

    /// The file's tensor `key` holds floating-point values, as weights do.
    fn check_kind(&self, key: &str, t: &Tensor) -> Result<(), WeightsError> {
        match t.kind() {
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 => Ok(()),
            kind => Err(WeightsError::Kind {
                path: self.path.to_path_buf(),
                key: key.to_string(),
                kind: format!("{kind:?}"),
            }),
        }
    }

    /// The file's tensor `key` fits the model variable `var`: floating-point, same shape.
    fn check(&self, key: &str, t: &Tensor, var: &Tensor) -> Result<(), WeightsError> {
        self.check_kind(key, t)?;
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
                err.check_kind(&key, &t)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// A resnet20's variables in MiSLAS' names (BN counters included), `edit`ed, as a file.
    fn cifar_file(vs: &VarStore, dir: &Path, edit: impl Fn(&mut Vec<(String, Tensor)>)) -> PathBuf {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (var, t) in vs.variables() {
            let key = Naming::Cifar.file_key(&var);
            if let Some(c) = Naming::counter_key(&key) {
                named.push((c, Tensor::scalar_tensor(3.0, (Kind::Int64, Device::Cpu))));
            }
            named.push((key, t.to_kind(Kind::Double)));
        }
        edit(&mut named);
        let p = dir.join("w.safetensors");
        std::fs::write(&p, stfile::encode(&named, Default::default()).unwrap()).unwrap();
        p
    }

    #[test]
    fn mislas_names_load_and_integer_weights_are_refused() {
        let arch = "resnet20".parse().unwrap();
        let (a, b) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        crate::model::build(arch, &a.root(), 3, 10).unwrap();
        crate::model::build(arch, &b.root(), 3, 10).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = cifar_file(&a, dir.path(), |_| {});
        let r = init_backbone(&p, &b, "resnet20").unwrap();
        assert_eq!(
            (r.naming, r.head.clone(), r.notice()),
            (Naming::Cifar, HeadInit::Loaded, None)
        );
        let vb = b.variables();
        for (n, t) in a.variables() {
            assert!(t.equal(&vb[&n]), "{n}");
        }
        let p = cifar_file(&a, dir.path(), |v| {
            let w = v
                .iter_mut()
                .find(|(k, _)| k == "layer1.0.conv1.weight")
                .unwrap();
            w.1 = w.1.to_kind(Kind::Int64);
        });
        let e = init_backbone(&p, &b, "resnet20").unwrap_err().to_string();
        assert!(e.ends_with("w.safetensors: key 'layer1.0.conv1.weight' holds Int64 values, not floating-point weights"), "{e}");
        // Without a head: loaded, with the notice.
        let p = cifar_file(&a, dir.path(), |v| {
            v.retain(|(k, _)| !k.starts_with("linear."))
        });
        let r = init_backbone(&p, &b, "resnet20").unwrap();
        assert!(r
            .notice()
            .unwrap()
            .ends_with("has no head; the head keeps its initialisation"));
    }
}
