//! A trained model read back from one of its run's checkpoints, with everything that shapes its
//! logits: the backbone and linear head, the plugin head of the checkpoint's stage with its
//! tensors, and the stage's loss (a post-hoc adjustment such as logit adjustment applies at
//! evaluation). `lt-train eval`, `predict` and `export` start here.

use super::components::{LossFn, Plugins};
use super::data::{self, Data};
use super::evaluate::{evaluate_split, EvalInput, EVAL_BATCH};
use super::net::Model;
use crate::checkpoint::{self, Checkpoint};
use crate::config::{Config, StageConfig};
use crate::metrics::Metrics;
use crate::model::Backbone;
use crate::plugin::DatasetInfo;
use crate::{Error, Result};
use lt_data::augment::Augment;
use lt_data::format::Layout;
use lt_data::manifest::Manifest;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A checkpoint's model, ready to compute logits as the run's evaluation did.
pub struct Trained {
    cfg: Config,
    stage: u32,
    data: Data,
    model: Model,
    loss: LossFn,
    eval: EvalInput,
    /// Last: the plugin libraries outlive the heads and losses built from them.
    _plugins: Plugins,
}

/// Where a trained model comes from and where it runs.
#[derive(Clone, Debug)]
pub struct Restore {
    /// A checkpoint written by `lt-train` (`RUN/checkpoints/stage{N}-{tag}.safetensors`).
    pub checkpoint: PathBuf,
    /// The dataset to read (manifest, splits); the run's own when `None`.
    pub dataset: Option<PathBuf>,
    /// The split evaluated (`test`, `val`, a shifted test split); the run's `eval_split` when
    /// `None`.
    pub split: Option<String>,
    /// `auto`, `cpu`, `cuda`, `cuda:N`; the run's device when `None`.
    pub device: Option<String>,
    /// libtorch threads (0: all cores); the run's when `None`.
    pub threads: Option<usize>,
}

impl Restore {
    /// Reads the checkpoint and its run's configuration, opens the dataset and rebuilds the
    /// model of the checkpoint's stage with its weights.
    pub fn load(&self) -> Result<Trained> {
        let ck = checkpoint::load(&self.checkpoint)?;
        let cfg = self.config(&ck)?;
        let data =
            data::load_data(&cfg.dataset, &cfg.eval_split, &cfg.eval_splits).map_err(|source| {
                Error::Dataset {
                    path: cfg.dataset.clone(),
                    source,
                }
            })?;
        crate::infer::fits::check(&self.checkpoint, &ck, &cfg.dataset, &data.manifest)?;
        let device = crate::device::select(&cfg.device)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tch::set_num_threads(if cfg.threads == 0 { cores } else { cfg.threads } as i32);
        let plugins = Plugins::load(&cfg.plugins)?;
        let stage = ck.meta.stage;
        let sc = stage_config(&cfg, stage, &self.checkpoint)?;
        let mut model = super::run::build_model(&cfg, (&data, &plugins), device, None, None)?;
        let info = dataset_info(&cfg, &data, &model, device);
        let loss = plugins.loss(stage, sc, &info)?;
        model.plugin_head = plugins.head(stage, sc, &info)?;
        mark_fitted(&mut model, info.num_classes, device)?;
        let failed = |e: Error| Error::CheckpointFile {
            action: "restoring",
            path: self.checkpoint.clone(),
            source: Box::new(e),
        };
        ck.restore_varstore(&model.vs, "").map_err(failed)?;
        ck.restore_extra(&model.extra()?).map_err(failed)?;
        let eval = EvalInput::new(&data.manifest, &cfg, device, false)?;
        Ok(Trained {
            cfg,
            stage,
            data,
            model,
            loss,
            eval,
            _plugins: plugins,
        })
    }

    /// The run's configuration with this restore's overrides.
    fn config(&self, ck: &Checkpoint) -> Result<Config> {
        let mut cfg: Config =
            serde_json::from_value(ck.meta.config.clone()).map_err(|source| Error::Snapshot {
                path: self.checkpoint.clone(),
                source,
            })?;
        if let Some(d) = &self.dataset {
            cfg.dataset = d.clone();
        }
        if let Some(s) = &self.split {
            cfg.eval_split = s.clone();
        }
        if let Some(d) = &self.device {
            cfg.device = d.clone();
        }
        if let Some(t) = self.threads {
            cfg.threads = t;
        }
        Ok(cfg)
    }
}

/// The configuration of the checkpoint's stage.
fn stage_config<'a>(cfg: &'a Config, stage: u32, path: &Path) -> Result<&'a StageConfig> {
    match (stage, &cfg.stage2) {
        (1, _) => Ok(&cfg.stage1),
        (2, Some(s)) => Ok(s),
        _ => Err(Error::Checkpoint(format!(
            "{}: stage {stage} checkpoint, but its configuration has no such stage",
            path.display()
        ))),
    }
}

/// A head fitted on training features (NCM) keeps what it fitted in its named tensors, which
/// the checkpoint holds: it is fitted on one placeholder feature per class, so that it counts
/// as fitted, and the checkpoint's tensors then replace what that computed (refitting on the
/// training split would cost a pass over it, for the same tensors).
fn mark_fitted(m: &mut Model, classes: usize, device: Device) -> Result<()> {
    let dim = m.backbone.feature_dim();
    let Some(h) = m.plugin_head.as_mut().filter(|h| h.needs_fit()) else {
        return Ok(());
    };
    let k = classes as i64;
    let features = Tensor::f_ones([k, dim], (Kind::Float, device))?;
    let labels = Tensor::f_arange(k, (Kind::Int64, device))?;
    Ok(h.fit(&features, &labels)?)
}

/// What plugins are built with: the dataset's classes and training counts, the feature width.
fn dataset_info(cfg: &Config, data: &Data, m: &Model, device: Device) -> DatasetInfo {
    DatasetInfo {
        num_classes: data.manifest.num_classes,
        class_counts: data.train.counts().iter().map(|&c| c as u64).collect(),
        feature_dim: m.backbone.feature_dim() as usize,
        seed: cfg.seed,
        device,
    }
}

impl Trained {
    /// Logits of a batch of images `[N, C, H, W]` (normalised as the dataset's evaluation
    /// transform leaves them), exactly as the run's evaluation computes them: eval-mode
    /// backbone, the stage's head, then the loss's post-hoc adjustment.
    pub fn logits(&mut self, x: &Tensor) -> Result<Tensor> {
        let x = x.f_to_device(self.device())?;
        if self.model.model_plugin.is_some() {
            let logits = self.model.eval_logits(&x)?;
            return self.loss.adjust(logits);
        }
        let f = self.model.eval_features(&x)?;
        self.head_logits(&f)
    }

    /// The run's model plugin, if it has one (its branches have no single head to export).
    pub fn model_plugin(&self) -> Option<&str> {
        self.model.model_plugin.as_ref().map(|p| p.name())
    }

    /// Logits of pooled features `[N, feature_dim]`: the stage's head, then the loss's
    /// post-hoc adjustment. The built-in linear head computes in float64 when given it (to
    /// fold the head exactly, `weights::fold`); plugin heads in their own precision.
    pub fn head_logits(&mut self, f: &Tensor) -> Result<Tensor> {
        let logits = tch::no_grad(|| match (&self.model.plugin_head, f.kind()) {
            (None, tch::Kind::Double) => {
                let h = &self.model.head;
                let w = h.weight.f_to_kind(tch::Kind::Double)?;
                let b = h.bias.f_to_kind(tch::Kind::Double)?;
                Ok(f.f_linear(&w, Some(&b))?)
            }
            _ => self.model.logits(f, false),
        })?;
        self.loss.adjust(logits)
    }

    /// The plugin head's tensors as checkpoints name them (`head_plugin.*`); none without one.
    pub fn plugin_tensors(&mut self) -> Result<Vec<(String, Tensor)>> {
        self.model.extra()
    }

    /// Turns gradient tracking off for every tensor of the model (tracing keeps none).
    pub fn freeze(&mut self) -> Result<()> {
        self.model.vs.freeze();
        for (_, t) in self.model.extra()? {
            let _ = t.set_requires_grad(false);
        }
        Ok(())
    }

    /// The shape of one evaluation image as the model takes it, `[1, C, H, W]`.
    pub fn input_shape(&self) -> Result<[i64; 4]> {
        let aug = data::augment(&self.data.manifest, false)?;
        let (h, w, _) = aug.out_shape(self.data.test.layout())?;
        Ok([1, self.data.in_channels, h as i64, w as i64])
    }

    /// The name of the stage's head (`linear` or a plugin head's).
    pub fn head_name(&self) -> Result<&str> {
        Ok(&stage_config(&self.cfg, self.stage, Path::new(""))?.head)
    }

    /// The metrics of the evaluation split, as the run's final evaluation computed them (after
    /// a model plugin's test-time adaptation).
    pub fn evaluate(&mut self) -> Result<Metrics> {
        self.evaluate_adapted(true)
    }

    /// As [`Trained::evaluate`]; `adapt: false` evaluates a test-time-adapting model plugin
    /// with its default aggregation.
    pub fn evaluate_adapted(&mut self, adapt: bool) -> Result<Metrics> {
        evaluate_split(
            &mut self.model,
            &mut self.loss,
            (&self.data, &self.data.test),
            &self.eval,
            None,
            adapt,
        )
    }

    /// The run's configuration (with the restore's overrides).
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The stage the checkpoint was written in (1 or 2).
    pub fn stage(&self) -> u32 {
        self.stage
    }

    /// The dataset's manifest (class names, normalisation, image size).
    pub fn manifest(&self) -> &Manifest {
        &self.data.manifest
    }

    /// How the evaluation split stores its images (raw shape, or encoded).
    pub fn eval_layout(&self) -> Layout {
        self.data.test.layout()
    }

    /// The dataset's evaluation transform, normalising on the host (the loader's).
    pub fn eval_augment(&self) -> Result<Augment> {
        data::augment(&self.data.manifest, false)
    }

    /// Images per evaluation batch.
    pub fn eval_batch_size(&self) -> usize {
        EVAL_BATCH
    }

    /// Training images per class.
    pub fn class_counts(&self) -> &[u32] {
        self.data.train.counts()
    }

    /// The shot group of each class (many / medium / few), from the manifest.
    pub fn groups(&self) -> &[crate::metrics::Shot] {
        &self.data.groups
    }

    /// The feature extractor (its variables are named as torchvision's under `backbone.`).
    pub fn backbone(&self) -> &Backbone {
        &self.model.backbone
    }

    /// Every model variable by VarStore name (`backbone.*`, `head.weight`, `head.bias`).
    pub fn variables(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.model.vs.variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The device the model is on.
    pub fn device(&self) -> Device {
        self.model.vs.device()
    }
}
