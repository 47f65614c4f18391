//! The training forward of a step: from the batch (and a second batch or view, when the stage
//! draws one) to what the loss needs — logits, features, each branch's logits, the second view's
//! features and logits.

use super::net::Model;
use crate::config::StageConfig;
use crate::plugin::{LossInput, StepCtx};
use crate::Result;
use tch::{Kind, Tensor};

/// What a stage's second loader is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Second {
    /// `sampler2`'s batch, for branch 1 of a two-branch model (BBN).
    Batch,
    /// A second augmented view of the same images (contrastive losses).
    View,
}

/// A step's forward results (float32 logits, whatever autocast computed in).
pub(super) struct Outputs {
    pub logits: Tensor,
    pub features: Option<Tensor>,
    pub experts: Vec<Tensor>,
    pub features2: Option<Tensor>,
    pub logits2: Option<Tensor>,
    /// The model plugin's own loss term (a model that trains on labels).
    pub model_loss: Option<Tensor>,
}

impl Outputs {
    /// The loss's arguments with `targets` (and the second batch's `targets2`).
    pub fn args<'a>(
        &'a self,
        targets: &'a Tensor,
        targets2: Option<&'a Tensor>,
        head_weight: Option<&'a Tensor>,
    ) -> LossInput<'a> {
        LossInput {
            logits: &self.logits,
            targets,
            features: self.features.as_ref(),
            head_weight,
            experts: &self.experts,
            targets2,
            features2: self.features2.as_ref(),
            logits2: self.logits2.as_ref(),
        }
    }
}

fn float(t: Tensor) -> Result<Tensor> {
    Ok(t.f_to_kind(Kind::Float)?)
}

impl Model {
    /// The training forward of a batch `x` with labels `y` and, when the stage has one, its
    /// second input.
    pub fn train_forward(
        &mut self,
        (x, y): (&Tensor, &Tensor),
        second: Option<(&Tensor, Second)>,
        sc: &StageConfig,
        ctx: &StepCtx,
    ) -> Result<Outputs> {
        if self.model_plugin.is_some() {
            return self.branches_forward((x, y), second.map(|s| s.0), sc, ctx);
        }
        match second {
            Some((x2, _)) => self.two_views_forward(x, x2, sc),
            None => {
                let f = self.with_backbone(sc, |b, t| b.forward_features(x, t));
                Ok(Outputs {
                    logits: float(self.logits(&f, true)?)?,
                    features: Some(f),
                    experts: Vec::new(),
                    features2: None,
                    logits2: None,
                    model_loss: None,
                })
            }
        }
    }

    /// Both views through the backbone in one batch (batch norm sees them together, as in
    /// SupCon and KCL), split back into halves.
    fn two_views_forward(&mut self, x: &Tensor, x2: &Tensor, sc: &StageConfig) -> Result<Outputs> {
        let n = x.size()[0];
        let both = Tensor::f_cat(&[x, x2], 0)?;
        let f = self.with_backbone(sc, |b, t| b.forward_features(&both, t));
        let l = float(self.logits(&f, true)?)?;
        Ok(Outputs {
            logits: l.f_narrow(0, 0, n)?,
            features: Some(f.f_narrow(0, 0, n)?),
            experts: Vec::new(),
            features2: Some(f.f_narrow(0, n, n)?),
            logits2: Some(l.f_narrow(0, n, n)?),
            model_loss: None,
        })
    }

    /// Every branch's features (branch 1 on the second batch when there is one) through the
    /// model plugin, which gets the first batch's labels.
    fn branches_forward(
        &mut self,
        (x, y): (&Tensor, &Tensor),
        x2: Option<&Tensor>,
        sc: &StageConfig,
        ctx: &StepCtx,
    ) -> Result<Outputs> {
        let feats = self.with_backbone(sc, |b, t| match x2 {
            Some(x2) => vec![
                b.forward_branch(0, &b.forward_trunk(x, t), t),
                b.forward_branch(1, &b.forward_trunk(x2, t), t),
            ],
            None => b.forward_branches(x, t),
        });
        let mp = self.model_plugin.as_mut().expect("checked by the caller");
        let out = mp.forward(&feats, Some(y), ctx)?;
        Ok(Outputs {
            logits: float(out.logits)?,
            features: None,
            experts: out.experts.into_iter().map(float).collect::<Result<_>>()?,
            features2: None,
            logits2: None,
            model_loss: out.loss.map(float).transpose()?,
        })
    }
}
