//! The network being trained: backbone, built-in linear head or a plugin's head, the VarStore
//! that owns the built-in parameters, and what the trainer asks of it (parameter groups of a
//! stage, logits, checkpoint tensors, a fingerprint of the weights).

use crate::config::StageConfig;
use crate::model::{Backbone, Head};
use crate::optim::ParamGroup;
use crate::plugin::PluginHead;
use crate::Result;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// The model, its device and its parameters' owner.
pub(super) struct Model {
    pub vs: VarStore,
    pub backbone: Backbone,
    pub head: Head,
    pub plugin_head: Option<PluginHead>,
}

impl Model {
    pub fn logits(&mut self, features: &Tensor, train: bool) -> Result<Tensor> {
        match &mut self.plugin_head {
            Some(h) => Ok(h.forward(features, train)?),
            None => Ok(self.head.forward(features)),
        }
    }

    /// Training-mode logits of a batch (float32, whatever autocast computed in). A frozen
    /// backbone runs without gradients, updating its BN statistics only with `shift_bn`.
    pub fn train_logits(&mut self, x: &Tensor, sc: &StageConfig) -> Result<Tensor> {
        let feats = if sc.freeze_backbone {
            tch::no_grad(|| self.backbone.forward_features(x, sc.shift_bn))
        } else {
            self.backbone.forward_features(x, true)
        };
        Ok(self.logits(&feats, true)?.f_to_kind(Kind::Float)?)
    }

    /// Eval-mode features of a batch, without gradients.
    pub fn eval_features(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(tch::no_grad(|| self.backbone.forward_features(x, false)))
    }

    /// Tensors of the plugin head, for checkpoints.
    pub fn extra(&mut self) -> Result<Vec<(String, Tensor)>> {
        match &mut self.plugin_head {
            Some(h) => Ok(h
                .named_tensors()?
                .into_iter()
                .map(|n| (format!("head_plugin.{}", n.name), n.tensor))
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    /// The optimiser's parameter groups for a stage, after setting what trains: the backbone
    /// (unless frozen), then the built-in head or each trainable tensor of the plugin head with
    /// its own learning-rate factor (`param_lr_factors`).
    pub fn stage_groups(&mut self, sc: &StageConfig) -> Result<Vec<ParamGroup>> {
        self.backbone.set_trainable(!sc.freeze_backbone);
        self.backbone.set_bn_eval(false);
        self.head.set_trainable(self.plugin_head.is_none());
        let mut groups = Vec::new();
        if !sc.freeze_backbone {
            groups.push(ParamGroup::new(
                "backbone",
                self.backbone.parameters(),
                sc.backbone_lr_factor,
                sc.weight_decay,
            ));
        }
        let Some(h) = &mut self.plugin_head else {
            groups.push(ParamGroup::new(
                "head",
                self.head.parameters(),
                sc.head_lr_factor,
                sc.weight_decay,
            ));
            return Ok(groups);
        };
        for t in h.named_tensors()?.into_iter().filter(|t| t.trainable) {
            let f = sc.param_lr_factor(&t.name)?;
            let name = format!("head_plugin.{}", t.name);
            groups.push(ParamGroup::new(
                &name,
                vec![(name.clone(), t.tensor)],
                f.unwrap_or(sc.head_lr_factor),
                sc.weight_decay,
            ));
        }
        Ok(groups)
    }
}

/// CRC-32 of every model tensor in name order: equal on all ranks of a data-parallel run.
pub(super) fn weights_crc(vs: &VarStore) -> Result<u32> {
    let mut h = crc32fast::Hasher::new();
    for t in sorted_variables(vs) {
        let v = Vec::<f32>::try_from(t.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))?;
        for x in v {
            h.update(&x.to_le_bytes());
        }
    }
    Ok(h.finalize())
}

/// The VarStore's tensors in name order (the same order on every rank).
pub(super) fn sorted_variables(vs: &VarStore) -> Vec<Tensor> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, t)| t).collect()
}
