//! [`FeatureLoss`]: a loss that sees more than logits and labels (ABI version 2), what it asks
//! the host for ([`Needs`]) and what it gets ([`LossInput`]).

use crate::abi::{self, StepCtx};
use crate::{NamedTensor, Result};
use tch::Tensor;

/// What a feature loss asks the host to pass besides logits and targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The pooled backbone features [B,D] of the batch (not with a model: its branches have
    /// features each, which the model sees).
    pub features: bool,
    /// The built-in linear classifier's weight [K,D].
    pub head_weight: bool,
    /// Each branch's logits [B,K]; the stage needs a model.
    pub experts: bool,
    /// The labels [B] of the batch the stage's second sampler drew (BBN's reversed sampler).
    pub second_batch: bool,
    /// Features and logits of a second augmented view of each image (contrastive losses).
    pub two_views: bool,
}

impl Needs {
    /// The `CAP_LOSS_*` bits.
    pub fn bits(self) -> u32 {
        [
            (self.features, abi::CAP_LOSS_FEATURES),
            (self.head_weight, abi::CAP_LOSS_HEAD_WEIGHT),
            (self.experts, abi::CAP_LOSS_EXPERTS),
            (self.second_batch, abi::CAP_LOSS_SECOND_BATCH),
            (self.two_views, abi::CAP_LOSS_TWO_VIEWS),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit)
    }

    /// Reads `CAP_LOSS_*` bits; `None` if a bit is not one this version defines.
    pub fn from_bits(bits: u32) -> Option<Needs> {
        if bits & !abi::CAP_LOSS_ALL != 0 {
            return None;
        }
        Some(Needs {
            features: bits & abi::CAP_LOSS_FEATURES != 0,
            head_weight: bits & abi::CAP_LOSS_HEAD_WEIGHT != 0,
            experts: bits & abi::CAP_LOSS_EXPERTS != 0,
            second_batch: bits & abi::CAP_LOSS_SECOND_BATCH != 0,
            two_views: bits & abi::CAP_LOSS_TWO_VIEWS != 0,
        })
    }
}

/// One training step's inputs of a feature loss; what it did not ask for is `None` (or empty).
pub struct LossInput<'a> {
    /// [B,K] float: the model's training output (a multi-branch model's aggregation).
    pub logits: &'a Tensor,
    /// [B] int64 class indices.
    pub targets: &'a Tensor,
    /// [B,D] pooled features ([`Needs::features`]).
    pub features: Option<&'a Tensor>,
    /// [K,D] ([`Needs::head_weight`]).
    pub head_weight: Option<&'a Tensor>,
    /// One [B,K] per branch ([`Needs::experts`]).
    pub experts: &'a [Tensor],
    /// [B] labels of the second sampler's batch ([`Needs::second_batch`]).
    pub targets2: Option<&'a Tensor>,
    /// [B,D] features of the second view ([`Needs::two_views`]).
    pub features2: Option<&'a Tensor>,
    /// [B,K] logits of the second view ([`Needs::two_views`]).
    pub logits2: Option<&'a Tensor>,
}

impl<'a> LossInput<'a> {
    /// Only logits and targets (the start of a unit test's input).
    pub fn new(logits: &'a Tensor, targets: &'a Tensor) -> LossInput<'a> {
        LossInput {
            logits,
            targets,
            features: None,
            head_weight: None,
            experts: &[],
            targets2: None,
            features2: None,
            logits2: None,
        }
    }

    /// `features`, or an error naming what is missing (the host passes what [`Needs`] asks).
    pub fn features(&self) -> Result<&'a Tensor> {
        self.features
            .ok_or(crate::Error::Input("no features passed".into()))
    }

    /// `targets2`, or an error.
    pub fn targets2(&self) -> Result<&'a Tensor> {
        self.targets2
            .ok_or(crate::Error::Input("no second-batch targets passed".into()))
    }

    /// `features2`, or an error.
    pub fn features2(&self) -> Result<&'a Tensor> {
        self.features2
            .ok_or(crate::Error::Input("no second-view features passed".into()))
    }
}

/// A training loss that sees features, experts or a second batch or view (ABI version 2).
pub trait FeatureLoss: Send {
    /// What the host must pass; fixed for the component's life.
    fn needs(&self) -> Needs;

    /// The scalar loss, keeping the autograd graph back to the inputs.
    fn forward(&mut self, input: &LossInput, ctx: &StepCtx) -> Result<Tensor>;

    /// Eval-time (post-hoc) logit adjustment; `None` leaves logits unchanged.
    fn adjust_logits(&mut self, _logits: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Called at the start of every epoch.
    fn on_epoch(&mut self, _ctx: &StepCtx) -> Result<()> {
        Ok(())
    }

    /// The loss's own state tensors (a projection head); trainable ones train with the stage.
    fn named_tensors(&self) -> Vec<NamedTensor> {
        Vec::new()
    }
}
