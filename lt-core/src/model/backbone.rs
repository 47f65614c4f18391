//! The feature extractor every architecture builds: a stem, residual blocks, global average
//! pooling; with the switches the trainer needs (BN eval mode, frozen or BN-affine-frozen
//! parameters, channels-last memory format).

use super::layers::{Block, Conv};
use super::BatchNorm;
use crate::{Error, Result};
use tch::nn;
use tch::Tensor;

/// Feature extractor: everything of a ResNet up to and including global average pooling.
#[derive(Debug)]
pub struct Backbone {
    pub(super) arch: String,
    pub(super) stem_conv: Conv,
    pub(super) stem_bn: BatchNorm,
    /// ImageNet stem: 3x3/2 max-pool after the first conv.
    pub(super) stem_pool: bool,
    pub(super) blocks: Vec<Block>,
    pub(super) feature_dim: i64,
    pub(super) bn_eval: bool,
    /// Convolution weights (and inputs, in the forward) in channels-last memory format.
    pub(super) channels_last: bool,
    pub(super) params: Vec<(String, Tensor)>,
    /// How the builder initialised convolutions (a branch's copy of a stage does the same).
    pub(super) conv_init: nn::Init,
    /// Branches 1.. of a multi-branch model: each a fresh copy of the last stage's blocks
    /// (branch 0 is the backbone's own last stage; see `branches.rs`).
    pub(super) branches: Vec<Vec<Block>>,
}

impl Backbone {
    /// Pooled features `[N, feature_dim]` of images `[N, C, H, W]`. `train` selects batch
    /// statistics in BN (and updates the running ones) unless [`Backbone::set_bn_eval`] is on.
    /// With [`Backbone::set_channels_last`] on, a 4-d input is first made channels-last (a copy
    /// unless it already is).
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_branch(0, &self.forward_trunk(x, train), train)
    }

    /// The stem and every stage but the last: what all branches share.
    pub fn forward_trunk(&self, x: &Tensor, train: bool) -> Tensor {
        let bn_train = train && !self.bn_eval;
        let x = if self.channels_last && x.dim() == 4 {
            // Only fails on an undefined tensor, which the convolution would reject anyway.
            crate::ops::channels_last(x).unwrap_or_else(|e| panic!("{e}"))
        } else {
            x.shallow_clone()
        };
        let mut out = self
            .stem_bn
            .forward(&self.stem_conv.forward(&x), bn_train)
            .relu();
        if self.stem_pool {
            out = out.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        }
        for b in &self.blocks[..self.last_stage_start()] {
            out = b.forward(&out, bn_train);
        }
        out
    }

    /// Width of the feature vector: 64 (CIFAR ResNets), 512 (basic-block ImageNet ResNets),
    /// 2048 (bottleneck ResNets).
    pub fn feature_dim(&self) -> i64 {
        self.feature_dim
    }

    /// Architecture name (as the registry spells it, e.g. `resnet32b`).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Every BN layer, stem first, in forward order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut v = vec![&self.stem_bn];
        for b in self.blocks.iter().chain(self.branches.iter().flatten()) {
            v.extend(b.batch_norms());
        }
        v
    }

    /// When on, BN layers normalise with their running statistics and do not update them even
    /// in a `train` forward (BN "eval mode" while the rest of the network trains).
    pub fn set_bn_eval(&mut self, eval: bool) {
        self.bn_eval = eval;
    }

    pub fn bn_eval(&self) -> bool {
        self.bn_eval
    }

    /// Re-lays every convolution weight out channels-last (`on`) or contiguous NCHW (`off`) in
    /// place, keeping the variables (names, VarStore entries, gradient slots), and makes
    /// [`Backbone::forward_features`] convert its input to match, as
    /// `model.to(memory_format=torch.channels_last)` does in PyTorch. Values are unchanged;
    /// only the strides differ. Call it before creating an optimiser (a momentum buffer keeps
    /// the layout it was created with). Off by default, as in PyTorch (convolutions in the other
    /// layout round differently, about 1e-6 relative). On this project's CPU it is faster: oneDNN
    /// then skips the reorders between NCHW and its blocked layout around every convolution
    /// (README, "Performance": 0.84x the contiguous step time at batch 128, 0.90x at batch 8).
    pub fn set_channels_last(&mut self, on: bool) -> Result<()> {
        for (name, t) in &self.params {
            if t.dim() != 4 {
                continue;
            }
            if on {
                crate::ops::set_channels_last(t)
                    .map_err(|e| Error::from(e).on_tensor(name.clone()))?;
            } else {
                let _guard = tch::no_grad_guard();
                let mut t = t.shallow_clone();
                let c = t.f_contiguous()?;
                t.f_set_data(&c)
                    .map_err(|e| Error::from(e).on_tensor(name.clone()))?;
            }
        }
        self.channels_last = on;
        Ok(())
    }

    /// Whether [`Backbone::set_channels_last`] is on.
    pub fn channels_last(&self) -> bool {
        self.channels_last
    }

    /// Turns gradient tracking of the BN weights and biases on or off; running statistics are
    /// buffers and keep updating in train-mode forwards either way.
    pub fn set_bn_affine_trainable(&self, trainable: bool) {
        for bn in self.batch_norms() {
            let _ = bn.weight.set_requires_grad(trainable);
            let _ = bn.bias.set_requires_grad(trainable);
        }
    }

    /// Turns gradient tracking of every backbone parameter on or off (stage-2 freezing). Frozen
    /// parameters get no gradient, so [`crate::optim::Sgd`] skips them.
    pub fn set_trainable(&self, trainable: bool) {
        for (_, t) in &self.params {
            let _ = t.set_requires_grad(trainable);
        }
    }

    /// Trainable parameters (conv weights, BN weights and biases) with their VarStore names,
    /// sharing storage with the model.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Number of trainable scalars.
    pub fn num_parameters(&self) -> i64 {
        self.params.iter().map(|(_, t)| t.numel() as i64).sum()
    }
}

impl nn::ModuleT for Backbone {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_features(xs, train)
    }
}
