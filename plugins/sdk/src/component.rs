//! The three traits a plugin implements ([`Loss`], [`Head`], [`Sampler`]), the state tensors a
//! head exposes, and the constructor types `export_plugin!` registers.

use crate::abi::StepCtx;
use crate::{Config, DatasetInfo, Result};
use tch::Tensor;

/// A state tensor of a head, as the host sees it: trainable ones go to the optimiser, all of them
/// go into checkpoints (load by copying into `tensor` under `no_grad`).
#[derive(Debug)]
pub struct NamedTensor {
    pub name: String,
    /// Shares storage with the head's own tensor, so in-place updates reach the head.
    pub tensor: Tensor,
    pub trainable: bool,
}

impl NamedTensor {
    /// The usual body of [`Head::named_tensors`]: (name, tensor, trainable) triples, each tensor
    /// shallow-cloned.
    pub fn list(entries: &[(&str, &Tensor, bool)]) -> Vec<NamedTensor> {
        entries
            .iter()
            .map(|(name, t, trainable)| NamedTensor {
                name: name.to_string(),
                tensor: t.shallow_clone(),
                trainable: *trainable,
            })
            .collect()
    }
}

/// A training loss. `logits` are [B,K] floats, `targets` [B] int64 class indices.
pub trait Loss: Send {
    /// The scalar loss, keeping the autograd graph back to `logits`.
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, ctx: &StepCtx) -> Result<Tensor>;

    /// Eval-time (post-hoc) logit adjustment; `None` means evaluate the logits unchanged.
    fn adjust_logits(&mut self, _logits: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Called at the start of every epoch (e.g. DRW switches re-weighting on at a given epoch).
    fn on_epoch(&mut self, _ctx: &StepCtx) -> Result<()> {
        Ok(())
    }
}

/// A classifier head mapping backbone features [B,D] to logits [B,K].
pub trait Head: Send {
    fn forward(&mut self, features: &Tensor, train: bool) -> Result<Tensor>;

    /// Every state tensor, as shallow clones (`Tensor::shallow_clone`; see
    /// [`NamedTensor::list`]).
    fn named_tensors(&self) -> Vec<NamedTensor>;

    /// Whether [`Head::init_from_linear`] should be called with the stage-1 classifier.
    fn wants_linear_init(&self) -> bool {
        false
    }

    /// Initialise from the stage-1 linear head: `weight` [K,D], `bias` [K].
    fn init_from_linear(&mut self, _weight: &Tensor, _bias: Option<&Tensor>) -> Result<()> {
        Ok(())
    }

    /// Whether [`Head::fit`] must be called before evaluation (e.g. NCM class means).
    fn needs_fit(&self) -> bool {
        false
    }

    /// Fit non-gradient state from the training features [N,D] and labels [N] int64.
    fn fit(&mut self, _features: &Tensor, _labels: &Tensor) -> Result<()> {
        Ok(())
    }
}

/// A sampler choosing which training images an epoch visits, and in which order.
pub trait Sampler: Send {
    /// Indices into the training set for `epoch` (zero-based).
    fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>>;
}

/// Constructor of a loss or head component.
pub type MakeFn<T> = fn(&Config, &DatasetInfo) -> Result<Box<T>>;
/// Constructor of a sampler component; the slice holds the training labels.
pub type MakeSamplerFn = fn(&Config, &DatasetInfo, &[u32]) -> Result<Box<dyn Sampler>>;
