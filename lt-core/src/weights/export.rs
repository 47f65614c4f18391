//! `lt-train export`: a run's checkpoint as a PyTorch-loadable file (see [`super::Format`]).
//! The safetensors formats carry in `__metadata__` the run's resolved configuration (TOML),
//! its `metrics.json` when present, the architecture, the naming, the class count, the input
//! shape and the layout version.

use super::fold::fold;
use super::naming::Naming;
use super::{stfile, torchscript, Format, WeightsError, FORMAT_VERSION};
use crate::train::{checkpoint_path, Restore, Trained};
use crate::Result;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// What to export and where.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The run directory (its `metrics.json` goes into the metadata).
    pub run: PathBuf,
    /// The checkpoint; the run's last stage's `final` one when `None`.
    pub checkpoint: Option<PathBuf>,
    pub format: Format,
    /// The file written; `RUN/export/model-FORMAT.{safetensors,pt}` when `None`.
    pub out: Option<PathBuf>,
    /// Replace an existing output.
    pub force: bool,
}

/// What [`export`] wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    pub path: PathBuf,
    pub checkpoint: PathBuf,
    pub arch: String,
    /// Tensors in the file (0 for TorchScript).
    pub tensors: usize,
}

/// Writes the checkpoint's model in `o.format`; the output appears whole or not at all.
pub fn export(o: &ExportOptions) -> Result<Exported> {
    let (checkpoint, by_default) = match &o.checkpoint {
        Some(c) => (c.clone(), false),
        None => (default_checkpoint(&o.run), true),
    };
    if by_default && !checkpoint.exists() {
        return Err(no_checkpoint(&checkpoint, "the run has no final checkpoint").into());
    }
    let out = o
        .out
        .clone()
        .unwrap_or_else(|| default_out(&o.run, o.format));
    if out.exists() && !o.force {
        return Err(WeightsError::Exists { path: out }.into());
    }
    let mut t = Restore {
        checkpoint: checkpoint.clone(),
        dataset: None,
        split: None,
        device: Some("cpu".into()),
        threads: None,
    }
    .load()?;
    if by_default && t.stage() == 1 && t.config().stage2.is_some() {
        let why = "stage 2 has no final checkpoint (an unfinished run?)";
        return Err(no_checkpoint(&checkpoint_path(&o.run, 2, "final"), why).into());
    }
    if let (Format::Torchvision, Some(model)) = (o.format, t.model_plugin()) {
        let model = model.to_string();
        return Err(WeightsError::Branches { checkpoint, model }.into());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::Error::io_while(format!("creating {}", dir.display()), e))?;
    }
    let arch = t.backbone().arch().to_string();
    let tensors = match o.format {
        Format::Torchscript => {
            torchscript::write(&mut t, &checkpoint, &out)?;
            0
        }
        f => {
            let (tensors, naming) = match f {
                Format::Torchvision => (
                    pytorch_tensors(&mut t, &checkpoint)?,
                    Naming::for_arch(&arch),
                ),
                _ => (lt_tensors(&mut t)?, Naming::Lt),
            };
            let meta = metadata(&t, &o.run, naming)?;
            lt_data::manifest::write_atomic(&out, &stfile::encode(&tensors, meta)?)?;
            tensors.len()
        }
    };
    Ok(Exported {
        path: out,
        checkpoint,
        arch,
        tensors,
    })
}

fn no_checkpoint(path: &Path, why: &str) -> WeightsError {
    WeightsError::NoCheckpoint {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// `RUN/checkpoints/stage2-final.safetensors` when there, else stage 1's.
fn default_checkpoint(run: &Path) -> PathBuf {
    let s2 = checkpoint_path(run, 2, "final");
    match s2.exists() {
        true => s2,
        false => checkpoint_path(run, 1, "final"),
    }
}

/// `RUN/export/model-FORMAT.safetensors` (`.pt` for TorchScript).
fn default_out(run: &Path, f: Format) -> PathBuf {
    let ext = match f {
        Format::Torchscript => "pt",
        _ => "safetensors",
    };
    run.join("export")
        .join(format!("model-{}.{ext}", f.as_str()))
}

/// torchvision's (or MiSLAS') names: the backbone's variables, a zero `num_batches_tracked`
/// beside each BN layer's statistics, and the folded head as `fc` (`linear`).
fn pytorch_tensors(t: &mut Trained, checkpoint: &Path) -> Result<Vec<(String, Tensor)>> {
    let naming = Naming::for_arch(t.backbone().arch());
    let mut v = Vec::new();
    for (name, tensor) in t.variables() {
        if !name.starts_with("backbone.") {
            continue;
        }
        let key = naming.file_key(&name);
        if let Some(counter) = Naming::counter_key(&key) {
            v.push((
                counter,
                Tensor::f_scalar_tensor(0.0, (Kind::Int64, Device::Cpu))?,
            ));
        }
        v.push((key, tensor));
    }
    let dim = t.backbone().feature_dim();
    let affine = match fold(&mut |f| t.head_logits(f), dim)? {
        Ok(a) => a,
        Err(deviation) => {
            return Err(WeightsError::NotAffine {
                checkpoint: checkpoint.to_path_buf(),
                head: t.head_name()?.to_string(),
                deviation,
            }
            .into())
        }
    };
    v.push((naming.file_key("head.weight"), affine.weight));
    v.push((naming.file_key("head.bias"), affine.bias));
    Ok(v)
}

/// lt-train's names: every model variable and the plugin head's tensors.
fn lt_tensors(t: &mut Trained) -> Result<Vec<(String, Tensor)>> {
    let mut v = t.variables();
    v.extend(t.plugin_tensors()?);
    Ok(v)
}

/// The `__metadata__` map of the safetensors formats.
fn metadata(t: &Trained, run: &Path, naming: Naming) -> Result<HashMap<String, String>> {
    let m = t.manifest();
    let mut meta = HashMap::from([
        ("lt_format_version".to_string(), FORMAT_VERSION.to_string()),
        ("lt_naming".into(), naming.as_str().into()),
        ("arch".into(), t.backbone().arch().into()),
        ("num_classes".into(), m.num_classes.to_string()),
        ("stage".into(), t.stage().to_string()),
        ("head".into(), t.head_name()?.into()),
        (
            "input_shape".into(),
            serde_json::to_string(&t.input_shape()?)?,
        ),
        ("mean".into(), serde_json::to_string(&m.mean)?),
        ("std".into(), serde_json::to_string(&m.std)?),
        ("class_names".into(), serde_json::to_string(&m.class_names)?),
        ("config".into(), t.config().to_toml()),
    ]);
    let metrics = run.join("metrics.json");
    if metrics.is_file() {
        let text = std::fs::read_to_string(&metrics).map_err(|e| crate::Error::io(&metrics, e))?;
        meta.insert("metrics".into(), text);
    }
    Ok(meta)
}
