//! [`Model`]: several branches (experts) on a shared trunk (ABI version 2).
//!
//! The host builds the trunk (the backbone without its last stage) and [`Model::branches`]
//! copies of the last stage, each followed by global pooling; the model gets one feature tensor
//! per branch and owns everything after that: the branch classifiers and how the branches
//! combine, in training and in evaluation.

use crate::abi::StepCtx;
use crate::{NamedTensor, Result};
use tch::Tensor;

/// What [`Model::forward`] returns.
#[derive(Debug)]
pub struct ModelOutput {
    /// [B,K]: what the loss sees in training; the evaluation's prediction otherwise.
    pub logits: Tensor,
    /// One [B,K] per branch, in branch order.
    pub experts: Vec<Tensor>,
    /// A scalar the host adds to the stage's loss; only [`Model::forward_train`]'s is used.
    pub loss: Option<Tensor>,
    /// In evaluation, [B] int64: how many branches each image used (a router's count; the
    /// host reports the mean as `branches_per_image`); `None`: all of them.
    pub used: Option<Tensor>,
}

impl ModelOutput {
    /// Logits and branch logits, without a loss term.
    pub fn new(logits: Tensor, experts: Vec<Tensor>) -> Self {
        ModelOutput {
            logits,
            experts,
            loss: None,
            used: None,
        }
    }
}

/// Branches on a shared trunk with their classifiers and aggregation.
pub trait Model: Send {
    /// How many branches the host builds (at least 1), fixed for the component's life.
    fn branches(&self) -> usize;

    /// `features[i]` [B,D] is branch i's pooled output. In training, when the stage draws two
    /// batches (a second sampler), branch 0 sees the first batch and branch 1 the second.
    fn forward(&mut self, features: &[Tensor], train: bool, ctx: &StepCtx) -> Result<ModelOutput>;

    /// Whether training calls [`Model::forward_train`] (with labels) instead of `forward`.
    fn trains_on_labels(&self) -> bool {
        false
    }

    /// The training forward with the batch's labels `targets` [B]; its `loss`, when set, is
    /// added to the stage's loss. Called only when [`Model::trains_on_labels`] is true.
    fn forward_train(
        &mut self,
        features: &[Tensor],
        _targets: &Tensor,
        ctx: &StepCtx,
    ) -> Result<ModelOutput> {
        self.forward(features, true, ctx)
    }

    /// Called when stage `stage` (1 or 2) starts, before the host reads which tensors train.
    fn begin_stage(&mut self, _stage: u32) -> Result<()> {
        Ok(())
    }

    /// Every state tensor, shallow-cloned (see [`NamedTensor::list`]); the `trainable` flags
    /// are read at the start of each stage, after [`Model::begin_stage`].
    fn named_tensors(&self) -> Vec<NamedTensor>;

    /// Called at the start of every epoch.
    fn on_epoch(&mut self, _ctx: &StepCtx) -> Result<()> {
        Ok(())
    }

    /// Passes over the unlabelled test images before evaluation; 0 (the default) means the
    /// model does not adapt at test time.
    fn adapt_epochs(&self) -> usize {
        0
    }

    /// Starts an adaptation afresh; the host calls it before each evaluated split.
    fn adapt_begin(&mut self) -> Result<()> {
        Ok(())
    }

    /// One batch of test images: each branch's logits for two augmented views, without
    /// gradients to the network (the model may train its own tensors on them).
    fn adapt(&mut self, _view1: &[Tensor], _view2: &[Tensor]) -> Result<()> {
        Ok(())
    }
}
