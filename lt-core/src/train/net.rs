//! The network being trained: backbone, built-in linear head or a plugin's head, the VarStore
//! that owns the built-in parameters, and what the trainer asks of it (parameter groups of a
//! stage, logits, checkpoint tensors, a fingerprint of the weights).

use crate::config::StageConfig;
use crate::model::{Backbone, Head};
use crate::optim::ParamGroup;
use crate::plugin::{NamedTensor, PluginHead, PluginModel, StepCtx};
use crate::Result;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// The model, its device and its parameters' owner.
pub(super) struct Model {
    pub vs: VarStore,
    pub backbone: Backbone,
    pub head: Head,
    pub plugin_head: Option<PluginHead>,
    /// A plugin's model over the backbone's branches; replaces the head when present.
    pub model_plugin: Option<PluginModel>,
}

impl Model {
    pub fn logits(&mut self, features: &Tensor, train: bool) -> Result<Tensor> {
        match &mut self.plugin_head {
            Some(h) => Ok(h.forward(features, train)?),
            None => Ok(self.head.forward(features)),
        }
    }

    /// Runs `f` on the backbone as the stage trains it: a frozen backbone without gradients,
    /// updating its BN statistics only with `shift_bn` (`f` gets BN's train flag).
    pub fn with_backbone<T>(&self, sc: &StageConfig, f: impl FnOnce(&Backbone, bool) -> T) -> T {
        if sc.freeze_backbone {
            tch::no_grad(|| f(&self.backbone, sc.shift_bn))
        } else {
            f(&self.backbone, true)
        }
    }

    /// Eval-mode features of a batch, without gradients.
    pub fn eval_features(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(tch::no_grad(|| self.backbone.forward_features(x, false)))
    }

    /// Eval-mode logits of a batch, without gradients: the head's, or the model plugin's
    /// aggregation of its branches.
    pub fn eval_logits(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(self.eval_logits_used(x)?.0)
    }

    /// As [`Model::eval_logits`], with how many branches each image used [B] int64 when the
    /// model plugin routes images to some of its branches.
    pub fn eval_logits_used(&mut self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let Some(mp) = &mut self.model_plugin else {
            let f = self.eval_features(x)?;
            return Ok((tch::no_grad(|| self.logits(&f, false))?, None));
        };
        let feats = tch::no_grad(|| self.backbone.forward_branches(x, false));
        let out = tch::no_grad(|| mp.forward(&feats, None, &StepCtx::default()))?;
        Ok((out.logits, out.used))
    }

    /// Each branch's eval-mode logits of a batch, without gradients (test-time adaptation).
    pub fn eval_experts(&mut self, x: &Tensor) -> Result<Vec<Tensor>> {
        let Some(mp) = &mut self.model_plugin else {
            return Ok(vec![self.eval_logits(x)?]);
        };
        let feats = tch::no_grad(|| self.backbone.forward_branches(x, false));
        let out = tch::no_grad(|| mp.forward(&feats, None, &StepCtx::default()))?;
        Ok(out.experts)
    }

    /// Tensors of the plugin head and the model plugin, for checkpoints.
    pub fn extra(&mut self) -> Result<Vec<(String, Tensor)>> {
        let mut v = Vec::new();
        if let Some(h) = &mut self.plugin_head {
            v.extend(prefixed("head_plugin", h.named_tensors()?));
        }
        if let Some(mp) = &mut self.model_plugin {
            v.extend(prefixed("model_plugin", mp.named_tensors()?));
        }
        Ok(v)
    }

    /// The optimiser's parameter groups for a stage, after setting what trains: the backbone
    /// (unless frozen), then the built-in head or each trainable tensor of the plugin head with
    /// its own learning-rate factor (`param_lr_factors`).
    pub fn stage_groups(&mut self, sc: &StageConfig) -> Result<Vec<ParamGroup>> {
        self.backbone.set_trainable(!sc.freeze_backbone);
        self.backbone.set_bn_eval(false);
        self.head
            .set_trainable(self.plugin_head.is_none() && self.model_plugin.is_none());
        let mut groups = Vec::new();
        if !sc.freeze_backbone {
            groups.push(ParamGroup::new(
                "backbone",
                self.backbone.parameters(),
                sc.backbone_lr_factor,
                sc.weight_decay,
            ));
        }
        let owned = match (&mut self.plugin_head, &mut self.model_plugin) {
            (_, Some(mp)) => Some(("model_plugin", mp.named_tensors()?)),
            (Some(h), None) => Some(("head_plugin", h.named_tensors()?)),
            (None, None) => None,
        };
        match owned {
            Some((prefix, tensors)) => groups.extend(plugin_groups(prefix, tensors, sc)?),
            None => groups.push(ParamGroup::new(
                "head",
                self.head.parameters(),
                sc.head_lr_factor,
                sc.weight_decay,
            )),
        }
        Ok(groups)
    }
}

/// One parameter group per trainable tensor of a plugin component, named `<prefix>.<name>`,
/// with its own learning-rate factor (`param_lr_factors`, by the tensor's own name).
pub(super) fn plugin_groups(
    prefix: &str,
    tensors: Vec<NamedTensor>,
    sc: &StageConfig,
) -> Result<Vec<ParamGroup>> {
    let mut groups = Vec::new();
    for t in tensors.into_iter().filter(|t| t.trainable) {
        let f = sc.param_lr_factor(&t.name)?;
        let name = format!("{prefix}.{}", t.name);
        groups.push(ParamGroup::new(
            &name,
            vec![(name.clone(), t.tensor)],
            f.unwrap_or(sc.head_lr_factor),
            sc.weight_decay,
        ));
    }
    Ok(groups)
}

/// A component's tensors under `<prefix>.<name>` (checkpoint names).
pub(super) fn prefixed(prefix: &str, tensors: Vec<NamedTensor>) -> Vec<(String, Tensor)> {
    tensors
        .into_iter()
        .map(|n| (format!("{prefix}.{}", n.name), n.tensor))
        .collect()
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
