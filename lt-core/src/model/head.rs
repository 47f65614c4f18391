//! The linear classifier on top of the features (`head.weight`, `head.bias`).

use crate::{Error, Result};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};
use tch::Tensor;

/// Linear classifier on top of the features; its variables live under `<path>/head`.
#[derive(Debug)]
pub struct Head {
    /// `[num_classes, in_dim]`, VarStore name `head.weight`.
    pub weight: Tensor,
    /// `[num_classes]`, VarStore name `head.bias`.
    pub bias: Tensor,
    names: [String; 2],
}

impl Head {
    /// `kaiming_weight`: Kaiming-normal (fan-in) weight as the CIFAR ResNets; otherwise the
    /// PyTorch `nn.Linear` default U(-1/sqrt(in), 1/sqrt(in)). The bias always uses the latter.
    pub fn new(p: &nn::Path, in_dim: i64, num_classes: i64, kaiming_weight: bool) -> Result<Self> {
        if in_dim <= 0 || num_classes <= 0 {
            return Err(Error::Model(format!(
                "head needs positive sizes, got in_dim {in_dim}, num_classes {num_classes}"
            )));
        }
        let bound = 1.0 / (in_dim as f64).sqrt();
        let w_init = if kaiming_weight {
            Init::Kaiming {
                dist: NormalOrUniform::Normal,
                fan: FanInOut::FanIn,
                non_linearity: NonLinearity::ReLU,
            }
        } else {
            Init::Uniform {
                lo: -bound,
                up: bound,
            }
        };
        Ok(Head {
            weight: p.f_var("weight", &[num_classes, in_dim], w_init)?,
            bias: p.f_var(
                "bias",
                &[num_classes],
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            )?,
            names: [p.path("weight"), p.path("bias")],
        })
    }

    /// Logits `[N, num_classes]` of features `[N, in_dim]`.
    pub fn forward(&self, features: &Tensor) -> Tensor {
        features.linear(&self.weight, Some(&self.bias))
    }

    pub fn num_classes(&self) -> i64 {
        self.weight.size()[0]
    }

    pub fn in_dim(&self) -> i64 {
        self.weight.size()[1]
    }

    /// `(head.weight, head.bias)` with their VarStore names.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            (self.names[0].clone(), self.weight.shallow_clone()),
            (self.names[1].clone(), self.bias.shallow_clone()),
        ]
    }

    /// Turns gradient tracking of the head on or off.
    pub fn set_trainable(&self, trainable: bool) {
        let _ = self.weight.set_requires_grad(trainable);
        let _ = self.bias.set_requires_grad(trainable);
    }
}

impl nn::Module for Head {
    fn forward(&self, xs: &Tensor) -> Tensor {
        Head::forward(self, xs)
    }
}
