//! A run's method components: the loaded plugins, and the stage's loss, head and sampler found
//! by name across them (`plugin/name` to pick one), or the built-in cross-entropy and linear
//! head.

use crate::config::{Config, StageConfig};
use crate::plugin::{
    ComponentKind, DatasetInfo, Plugin, PluginError, PluginFeatureLoss, PluginHead, PluginLoss,
    PluginModel, PluginSampler, PluginSearch, StepCtx,
};
use crate::{Error, Result};
use tch::Tensor;

pub(super) enum LossFn {
    CrossEntropy,
    /// `loss = "none"`: the stage trains on the model plugin's loss term alone.
    None,
    Plugin(PluginLoss),
    /// A version-2 loss that sees features, experts, a second batch or view.
    Feature(PluginFeatureLoss),
}

impl LossFn {
    pub fn adjust(&mut self, logits: Tensor) -> Result<Tensor> {
        match self {
            LossFn::Plugin(p) => Ok(p.adjust_logits(&logits)?.unwrap_or(logits)),
            LossFn::Feature(p) => Ok(p.adjust_logits(&logits)?.unwrap_or(logits)),
            LossFn::CrossEntropy | LossFn::None => Ok(logits),
        }
    }

    /// Called at the start of every epoch.
    pub fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        match self {
            LossFn::Plugin(p) => Ok(p.on_epoch(ctx)?),
            LossFn::Feature(p) => Ok(p.on_epoch(ctx)?),
            LossFn::CrossEntropy | LossFn::None => Ok(()),
        }
    }

    /// What a feature loss asks for; nothing for the others.
    pub fn needs(&self) -> crate::plugin::Needs {
        match self {
            LossFn::Feature(p) => p.needs(),
            _ => Default::default(),
        }
    }

    /// The loss's own tensors (a feature loss's projection head), for optimiser and checkpoints.
    pub fn tensors(&mut self) -> Result<Vec<crate::plugin::NamedTensor>> {
        match self {
            LossFn::Feature(p) => Ok(p.named_tensors()?),
            _ => Ok(Vec::new()),
        }
    }
}

/// The loaded plugins; components are found by name across them (`plugin/name` to pick one).
pub(super) struct Plugins(Vec<Plugin>);

impl Plugins {
    pub fn load(specs: &[String]) -> Result<Self> {
        let search = PluginSearch::from_env();
        Ok(Plugins(
            specs
                .iter()
                .map(|s| search.load(s))
                .collect::<Result<_, _>>()?,
        ))
    }

    /// The first loaded plugin with a component of one of `kinds` named `spec`, and its kind.
    fn find(
        &self,
        kinds: &[ComponentKind],
        spec: &str,
    ) -> Result<(&Plugin, String, ComponentKind)> {
        let (want_plugin, name) = match spec.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, spec),
        };
        for p in &self.0 {
            if want_plugin.is_some_and(|w| w != p.info().name) {
                continue;
            }
            if let Some(&k) = kinds.iter().find(|&&k| p.info().names(k).contains(&name)) {
                return Ok((p, name.to_string(), k));
            }
        }
        let kind = kinds[0];
        let loaded: Vec<&str> = self.0.iter().map(|p| p.info().name.as_str()).collect();
        Err(Error::Config(format!(
            "no loaded plugin provides the {kind} '{spec}' (loaded: {}); use --plugin NAME",
            if loaded.is_empty() {
                "none".into()
            } else {
                loaded.join(", ")
            }
        )))
    }
}

impl Plugins {
    /// The stage's loss: built-in cross-entropy, or a plugin's built with the stage's config.
    pub fn loss(&self, stage: u32, sc: &StageConfig, info: &DatasetInfo) -> Result<LossFn> {
        match sc.loss.as_str() {
            "ce" => return Ok(LossFn::CrossEntropy),
            "none" => return Ok(LossFn::None),
            _ => {}
        }
        let kinds = [ComponentKind::Loss, ComponentKind::FeatureLoss];
        let (p, name, kind) = self.find(&kinds, &sc.loss)?;
        let cfg = json_of(&sc.loss_config)?;
        let failed = built(stage, "loss", &sc.loss);
        Ok(match kind {
            ComponentKind::FeatureLoss => {
                LossFn::Feature(p.feature_loss(&name, &cfg, info).map_err(failed)?)
            }
            _ => LossFn::Plugin(p.loss(&name, &cfg, info).map_err(failed)?),
        })
    }

    /// The run's model component (`model_plugin`), if any.
    pub fn model(&self, cfg: &Config, info: &DatasetInfo) -> Result<Option<PluginModel>> {
        let Some(spec) = &cfg.model_plugin else {
            return Ok(None);
        };
        let (p, name, _) = self.find(&[ComponentKind::Model], spec)?;
        let m = p.model(&name, &json_of(&cfg.model_plugin_config)?, info);
        Ok(Some(m.map_err(|source| Error::ModelPlugin {
            name: spec.clone(),
            source: Box::new(source),
        })?))
    }

    /// The stage's plugin head; `None` for the built-in linear classifier.
    pub fn head(
        &self,
        stage: u32,
        sc: &StageConfig,
        info: &DatasetInfo,
    ) -> Result<Option<PluginHead>> {
        if sc.head == "linear" {
            return Ok(None);
        }
        let (p, name, _) = self.find(&[ComponentKind::Head], &sc.head)?;
        let h = p.head(&name, &json_of(&sc.head_config)?, info);
        Ok(Some(h.map_err(built(stage, "head", &sc.head))?))
    }

    /// The stage's plugin sampler over `labels` (the caller handles the built-in names).
    pub fn sampler(
        &self,
        stage: u32,
        (spec, config): (&str, &toml::Table),
        info: &DatasetInfo,
        labels: &[u32],
    ) -> Result<PluginSampler> {
        let (p, name, _) = self.find(&[ComponentKind::Sampler], spec)?;
        p.sampler(&name, &json_of(config)?, info, labels)
            .map_err(built(stage, "sampler", spec))
    }
}

/// A component's TOML config as the JSON the plugin receives.
fn json_of(t: &toml::Table) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(t)?)
}

/// Names the stage and component a plugin's error came from: `stage 2 loss 'las': ...`.
fn built(stage: u32, kind: &'static str, name: &str) -> impl FnOnce(PluginError) -> Error {
    let name = name.to_string();
    move |source| Error::Component {
        stage,
        kind,
        name,
        source: Box::new(source),
    }
}
