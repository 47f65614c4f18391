//! A run's method components: the loaded plugins, and the stage's loss, head and sampler found
//! by name across them (`plugin/name` to pick one), or the built-in cross-entropy and linear
//! head.

use crate::config::StageConfig;
use crate::plugin::{
    DatasetInfo, Plugin, PluginError, PluginHead, PluginLoss, PluginSampler, PluginSearch, StepCtx,
};
use crate::{Error, Result};
use tch::{Kind, Tensor};

pub(super) enum LossFn {
    CrossEntropy,
    Plugin(PluginLoss),
}

impl LossFn {
    pub fn forward(&mut self, logits: &Tensor, y: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        match self {
            LossFn::CrossEntropy => Ok(logits.log_softmax(-1, Kind::Float).nll_loss(y)),
            LossFn::Plugin(p) => Ok(p.forward(logits, y, ctx)?),
        }
    }
    pub fn adjust(&mut self, logits: Tensor) -> Result<Tensor> {
        match self {
            LossFn::Plugin(p) => Ok(p.adjust_logits(&logits)?.unwrap_or(logits)),
            LossFn::CrossEntropy => Ok(logits),
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

    fn find(&self, kind: crate::plugin::ComponentKind, spec: &str) -> Result<(&Plugin, String)> {
        let (want_plugin, name) = match spec.split_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, spec),
        };
        for p in &self.0 {
            if want_plugin.is_some_and(|w| w != p.info().name) {
                continue;
            }
            if p.info().names(kind).contains(&name) {
                return Ok((p, name.to_string()));
            }
        }
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
        if sc.loss == "ce" {
            return Ok(LossFn::CrossEntropy);
        }
        let (p, name) = self.find(crate::plugin::ComponentKind::Loss, &sc.loss)?;
        let l = p.loss(&name, &json_of(&sc.loss_config)?, info);
        Ok(LossFn::Plugin(l.map_err(built(stage, "loss", &sc.loss))?))
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
        let (p, name) = self.find(crate::plugin::ComponentKind::Head, &sc.head)?;
        let h = p.head(&name, &json_of(&sc.head_config)?, info);
        Ok(Some(h.map_err(built(stage, "head", &sc.head))?))
    }

    /// The stage's plugin sampler over `labels` (the caller handles the built-in names).
    pub fn sampler(
        &self,
        stage: u32,
        sc: &StageConfig,
        info: &DatasetInfo,
        labels: &[u32],
    ) -> Result<PluginSampler> {
        let (p, name) = self.find(crate::plugin::ComponentKind::Sampler, &sc.sampler)?;
        p.sampler(&name, &json_of(&sc.sampler_config)?, info, labels)
            .map_err(built(stage, "sampler", &sc.sampler))
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
