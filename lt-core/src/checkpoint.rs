//! Checkpoints in one safetensors file, written atomically (temp name, fsync, rename).
//!
//! Layout of the tensor names:
//! * `model.<name>` — every VarStore variable (parameters and BN running statistics);
//! * `extra.<name>` — other named tensors, e.g. a plugin head's parameters;
//! * `optim.<name>` — optimiser state ([`crate::optim::Sgd::state_tensors`]);
//! * `__meta__` — a uint8 tensor holding the UTF-8 JSON of [`CheckpointMeta`].
//!
//! RNG state: a run is resumed only at epoch boundaries, and the trainer re-seeds tch, the
//! loader and the mixup stream (`lt_data::rng::streams`) from `(seed, epoch)` at each epoch start,
//! so `(meta.seed, meta.epoch)` *is* the RNG state; no generator bytes are stored.
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

const META_KEY: &str = "__meta__";
pub const MODEL_PREFIX: &str = "model.";
pub const EXTRA_PREFIX: &str = "extra.";
pub const OPTIM_PREFIX: &str = "optim.";

/// Everything besides tensors that a resume needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Number of completed epochs of `stage` (resume starts at this 0-based epoch).
    pub epoch: usize,
    /// Training stage (1 or 2 for decoupled methods).
    pub stage: u32,
    pub seed: u64,
    /// Best top-1 so far, percent (None before the first evaluation).
    pub best_top1: Option<f64>,
    /// The resolved configuration of the run.
    pub config: serde_json::Value,
    /// Format version of this layout.
    #[serde(default = "format_version")]
    pub format: u32,
}

fn format_version() -> u32 {
    1
}

impl CheckpointMeta {
    pub fn new(
        epoch: usize,
        stage: u32,
        seed: u64,
        best_top1: Option<f64>,
        config: serde_json::Value,
    ) -> Self {
        CheckpointMeta {
            epoch,
            stage,
            seed,
            best_top1,
            config,
            format: format_version(),
        }
    }
}

/// A checkpoint read back from disk (tensors on the CPU, prefixes stripped).
#[derive(Debug)]
pub struct Checkpoint {
    pub model: Vec<(String, Tensor)>,
    pub extra: Vec<(String, Tensor)>,
    pub optim: Vec<(String, Tensor)>,
    pub meta: CheckpointMeta,
}

fn to_cpu(t: &Tensor) -> Result<Tensor> {
    tch::no_grad(|| -> Result<Tensor> {
        Ok(t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?)
    })
}

/// Saves `vs`, `extra` and `optim` tensors and `meta` to `path` (atomically).
pub fn save(
    path: &Path,
    vs: &VarStore,
    extra: &[(String, Tensor)],
    optim: &[(String, Tensor)],
    meta: &CheckpointMeta,
) -> Result<()> {
    let failed = file_error("writing", path);
    let mut named: Vec<(String, Tensor)> = Vec::new();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (n, t) in &vars {
        named.push((format!("{MODEL_PREFIX}{n}"), to_cpu(t).map_err(&failed)?));
    }
    for (prefix, list) in [(EXTRA_PREFIX, extra), (OPTIM_PREFIX, optim)] {
        for (n, t) in list {
            named.push((format!("{prefix}{n}"), to_cpu(t).map_err(&failed)?));
        }
    }
    let json = serde_json::to_vec(meta).map_err(|e| failed(e.into()))?;
    named.push((META_KEY.to_string(), Tensor::from_slice(&json)));
    let mut seen = std::collections::HashSet::new();
    for (n, _) in &named {
        if !seen.insert(n.as_str()) {
            return Err(failed(Error::Checkpoint(format!(
                "tensor name '{n}' used twice"
            ))));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io_while(format!("creating {}", dir.display()), e))?;
    }
    let tmp = lt_data::format::temp_path(path);
    let res = (|| -> Result<()> {
        Tensor::write_safetensors(&named, &tmp)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(Error::Os)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(failed)
}

/// Wraps an error as the failure of `action` (`reading`, `writing`) on the checkpoint `path`.
fn file_error(action: &'static str, path: &Path) -> impl Fn(Error) -> Error {
    let path = PathBuf::from(path);
    move |e| Error::CheckpointFile {
        action,
        path: path.clone(),
        source: Box::new(e),
    }
}

/// Reads a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint> {
    let failed = file_error("reading", path);
    // The OS's word on a missing or unreadable file, rather than the tensor reader's.
    std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let named = Tensor::read_safetensors(path).map_err(|e| failed(e.into()))?;
    let mut model = Vec::new();
    let mut extra = Vec::new();
    let mut optim = Vec::new();
    let mut meta = None;
    for (n, t) in named {
        if n == META_KEY {
            if t.kind() != Kind::Uint8 {
                return Err(failed(Error::Checkpoint(format!(
                    "{META_KEY} is not a byte tensor"
                ))));
            }
            let bytes = Vec::<u8>::try_from(&t).map_err(|e| failed(e.into()))?;
            let m: CheckpointMeta =
                serde_json::from_slice(&bytes).map_err(|e| failed(Error::BadMetadata(e)))?;
            meta = Some(m);
        } else if let Some(s) = n.strip_prefix(MODEL_PREFIX) {
            model.push((s.to_string(), t));
        } else if let Some(s) = n.strip_prefix(EXTRA_PREFIX) {
            extra.push((s.to_string(), t));
        } else if let Some(s) = n.strip_prefix(OPTIM_PREFIX) {
            optim.push((s.to_string(), t));
        } else {
            return Err(failed(Error::Checkpoint(format!(
                "unexpected tensor '{n}' (not an lt-train checkpoint?)"
            ))));
        }
    }
    let Some(meta) = meta else {
        return Err(failed(Error::Checkpoint(format!(
            "no {META_KEY} entry (not an lt-train checkpoint?)"
        ))));
    };
    for v in [&mut model, &mut extra, &mut optim] {
        v.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(Checkpoint {
        model,
        extra,
        optim,
        meta,
    })
}

impl Checkpoint {
    /// Copies the saved model tensors whose name starts with `prefix` (`""`: all, `"backbone."`:
    /// the feature extractor only, as stage 2 starts) into `vs`, on `vs`'s device. Every
    /// VarStore variable under `prefix` must be present with the same shape; returns how many
    /// were copied.
    pub fn restore_varstore(&self, vs: &VarStore, prefix: &str) -> Result<usize> {
        let saved: HashMap<&str, &Tensor> =
            self.model.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut copied = 0;
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, var) in vars {
            copy_saved(&saved, &name, &var, Wording::Model)?;
            copied += 1;
        }
        Ok(copied)
    }

    /// Copies saved `extra` tensors into the given tensors (same names, same shapes).
    pub fn restore_extra(&self, into: &[(String, Tensor)]) -> Result<()> {
        let saved: HashMap<&str, &Tensor> =
            self.extra.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (name, t) in into {
            copy_saved(&saved, name, t, Wording::Extra)?;
        }
        Ok(())
    }

    /// As [`Checkpoint::restore_extra`] for the tensors the checkpoint has; returns the names
    /// of those it lacks (left as they are).
    pub fn restore_extra_present(&self, into: &[(String, Tensor)]) -> Result<Vec<String>> {
        let saved: HashMap<&str, &Tensor> =
            self.extra.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut missing = Vec::new();
        for (name, t) in into {
            if saved.contains_key(name.as_str()) {
                copy_saved(&saved, name, t, Wording::Extra)?;
            } else {
                missing.push(name.clone());
            }
        }
        Ok(missing)
    }
}

/// Which section of a checkpoint a restored tensor comes from, as its errors word it.
#[derive(Clone, Copy)]
enum Wording {
    Model,
    Extra,
}

/// Copies the saved tensor `name` into `dst` (without gradients), refusing a missing tensor or
/// another shape.
fn copy_saved(
    saved: &HashMap<&str, &Tensor>,
    name: &str,
    dst: &Tensor,
    wording: Wording,
) -> Result<()> {
    let Some(src) = saved.get(name) else {
        return Err(Error::Checkpoint(match wording {
            Wording::Model => format!("checkpoint has no tensor for model variable '{name}'"),
            Wording::Extra => format!("checkpoint has no extra tensor '{name}'"),
        }));
    };
    let (got, want) = (src.size(), dst.size());
    if got != want {
        return Err(Error::Checkpoint(match wording {
            Wording::Model => {
                format!("checkpoint tensor '{name}' has shape {got:?}, the model {want:?}")
            }
            Wording::Extra => {
                format!("checkpoint extra tensor '{name}' has shape {got:?}, expected {want:?}")
            }
        }));
    }
    let mut dst = dst.shallow_clone();
    tch::no_grad(|| dst.f_copy_(src))
        .map_err(|e| Error::from(e).on_tensor(format!("restoring '{name}'")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Sgd;

    fn arch(name: &str) -> crate::model::Arch {
        name.parse().unwrap()
    }

    #[test]
    fn round_trip_is_bit_identical() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = crate::model::build(arch("resnet20"), &vs.root(), 3, 10).unwrap();
        // Non-trivial running stats and momentum buffers.
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let mut params = bb.parameters();
        params.extend(head.parameters());
        let mut opt = Sgd::single_group(params, 0.1, 5e-4).unwrap();
        head.forward(&bb.forward_features(&x, true))
            .cross_entropy_for_logits(&y)
            .backward();
        opt.step().unwrap();
        let plugin_head = vec![(
            "plugin.scale".to_string(),
            Tensor::from_slice(&[1.5f32, -2.0]),
        )];
        let meta = CheckpointMeta::new(
            7,
            2,
            42,
            Some(61.25),
            serde_json::json!({"lr": 0.1, "model": "resnet20"}),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/last.safetensors");
        save(&path, &vs, &plugin_head, &opt.state_tensors(), &meta).unwrap();
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );

        let ck = load(&path).unwrap();
        assert_eq!(ck.meta, meta);
        let vs2 = VarStore::new(Device::Cpu);
        let (bb2, _) = crate::model::build(arch("resnet20"), &vs2.root(), 3, 10).unwrap();
        assert_eq!(ck.restore_varstore(&vs2, "").unwrap(), vs.variables().len());
        let v1 = vs.variables();
        for (n, t) in vs2.variables() {
            assert!(t.equal(&v1[&n]), "{n} differs");
        }
        assert!(bb2.batch_norms()[3]
            .running_var
            .equal(&bb.batch_norms()[3].running_var));
        let target = vec![(
            "plugin.scale".to_string(),
            Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        )];
        ck.restore_extra(&target).unwrap();
        assert!(target[0].1.equal(&plugin_head[0].1));
        let st = opt.state_tensors();
        assert_eq!(ck.optim.len(), st.len());
        for ((n1, t1), (n2, t2)) in ck.optim.iter().zip(&st) {
            assert_eq!(n1, n2);
            assert!(t1.equal(t2));
        }
    }

    #[test]
    fn partial_restore_and_errors() {
        let vs = VarStore::new(Device::Cpu);
        crate::model::build(arch("resnet20"), &vs.root(), 3, 10).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s1.safetensors");
        save(
            &path,
            &vs,
            &[],
            &[],
            &CheckpointMeta::new(1, 1, 0, None, serde_json::Value::Null),
        )
        .unwrap();
        let ck = load(&path).unwrap();
        // Stage 2 with another class count: backbone only.
        let vs2 = VarStore::new(Device::Cpu);
        crate::model::build(arch("resnet20"), &vs2.root(), 3, 5).unwrap();
        assert!(ck.restore_varstore(&vs2, "backbone.").unwrap() > 0);
        let e = ck.restore_varstore(&vs2, "").unwrap_err();
        assert!(e.to_string().contains("shape [10], the model [5]"), "{e}");
        let vs3 = VarStore::new(Device::Cpu);
        crate::model::build(arch("resnet32"), &vs3.root(), 3, 10).unwrap();
        assert!(ck
            .restore_varstore(&vs3, "")
            .unwrap_err()
            .to_string()
            .contains("no tensor"));
        // Not a checkpoint / missing file.
        let other = dir.path().join("plain.safetensors");
        Tensor::write_safetensors(&[("w", Tensor::from_slice(&[1f32]))], &other).unwrap();
        let e = load(&other).unwrap_err();
        assert!(format!("{e:#}").contains("plain.safetensors"));
        let e = load(&dir.path().join("missing.safetensors")).unwrap_err();
        assert!(format!("{e:#}").contains("missing.safetensors"));
        std::fs::write(dir.path().join("junk.safetensors"), b"not safetensors").unwrap();
        assert!(load(&dir.path().join("junk.safetensors")).is_err());
    }
}
