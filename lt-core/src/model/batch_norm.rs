//! The batch-norm layer of the backbones, its variables exposed so the trainer can freeze,
//! inspect or re-estimate it (MiSLAS' shifted BN).

use crate::Result;
use tch::nn::{self, Init};
use tch::Tensor;

/// A 2-D batch-norm layer with its variables exposed, so the trainer can freeze or inspect it.
#[derive(Debug)]
pub struct BatchNorm {
    /// VarStore name prefix, e.g. `backbone.layer1.0.bn1`.
    pub name: String,
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// Running-statistics momentum (PyTorch convention: new = (1-m)*old + m*batch), 0.1.
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    pub(super) fn new(p: &nn::Path, channels: i64) -> Result<Self> {
        Ok(BatchNorm {
            name: p.components().collect::<Vec<_>>().join("."),
            weight: p.f_var("weight", &[channels], Init::Const(1.0))?,
            bias: p.f_var("bias", &[channels], Init::Const(0.0))?,
            running_mean: p.f_zeros_no_train("running_mean", &[channels])?,
            running_var: p.f_ones_no_train("running_var", &[channels])?,
            momentum: 0.1,
            eps: 1e-5,
        })
    }

    /// `train`: normalise with batch statistics and update the running ones (in place, also
    /// under `no_grad`); otherwise normalise with the running statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        Tensor::batch_norm(
            x,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
            self.eps,
            true,
        )
    }
}
