//! The building blocks of the ResNets: bias-free convolutions, shortcuts, basic and bottleneck
//! blocks, and the collector that creates their variables under torchvision's names.

use super::BatchNorm;
use crate::{Error, Result};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};
use tch::Tensor;

/// Bias-free 2-D convolution (every ResNet conv is followed by BN).
#[derive(Debug)]
pub(super) struct Conv {
    pub(super) weight: Tensor,
    pub(super) stride: i64,
    pub(super) padding: i64,
}

impl Conv {
    pub(super) fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            None::<&Tensor>,
            [self.stride],
            [self.padding],
            [1],
            1,
        )
    }
}

/// How a residual block maps its input to the output shape.
#[derive(Debug)]
pub(super) enum Shortcut {
    Identity,
    /// Option A: take every second pixel and zero-pad `pad` channels on each side.
    PadA {
        pad: i64,
    },
    /// Option B / torchvision downsample: 1x1 conv with stride, then BN.
    Projection(Conv, BatchNorm),
}

impl Shortcut {
    pub(super) fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match self {
            Shortcut::Identity => x.shallow_clone(),
            Shortcut::PadA { pad } => {
                let sub = x.slice(2, 0, None, 2).slice(3, 0, None, 2);
                sub.constant_pad_nd([0, 0, 0, 0, *pad, *pad])
            }
            Shortcut::Projection(conv, bn) => bn.forward(&conv.forward(x), bn_train),
        }
    }
}

#[derive(Debug)]
pub(super) enum Block {
    Basic {
        c1: Conv,
        b1: BatchNorm,
        c2: Conv,
        b2: BatchNorm,
        sc: Shortcut,
    },
    Bottleneck {
        c1: Conv,
        b1: BatchNorm,
        c2: Conv,
        b2: BatchNorm,
        c3: Conv,
        b3: BatchNorm,
        sc: Shortcut,
    },
}

impl Block {
    pub(super) fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
        match self {
            Block::Basic { c1, b1, c2, b2, sc } => {
                let out = b1.forward(&c1.forward(x), bn_train).relu();
                let out = b2.forward(&c2.forward(&out), bn_train);
                (out + sc.forward(x, bn_train)).relu()
            }
            Block::Bottleneck {
                c1,
                b1,
                c2,
                b2,
                c3,
                b3,
                sc,
            } => {
                let out = b1.forward(&c1.forward(x), bn_train).relu();
                let out = b2.forward(&c2.forward(&out), bn_train).relu();
                let out = b3.forward(&c3.forward(&out), bn_train);
                (out + sc.forward(x, bn_train)).relu()
            }
        }
    }

    pub(super) fn batch_norms(&self) -> Vec<&BatchNorm> {
        let (mut v, sc) = match self {
            Block::Basic { b1, b2, sc, .. } => (vec![b1, b2], sc),
            Block::Bottleneck { b1, b2, b3, sc, .. } => (vec![b1, b2, b3], sc),
        };
        if let Shortcut::Projection(_, bn) = sc {
            v.push(bn);
        }
        v
    }
}

/// Collects the trainable variables (with full names) while a backbone is built.
pub(super) struct Collector {
    pub(super) params: Vec<(String, Tensor)>,
    conv_init: Init,
}

impl Collector {
    /// No variables yet; convolutions get Kaiming-normal weights over `fan` (ReLU gain).
    pub(super) fn kaiming(fan: FanInOut) -> Self {
        Collector {
            params: Vec::new(),
            conv_init: Init::Kaiming {
                dist: NormalOrUniform::Normal,
                fan,
                non_linearity: NonLinearity::ReLU,
            },
        }
    }

    pub(super) fn conv(
        &mut self,
        p: &nn::Path,
        cin: i64,
        cout: i64,
        k: i64,
        stride: i64,
    ) -> Result<Conv> {
        let weight = p.f_var("weight", &[cout, cin, k, k], self.conv_init)?;
        self.params.push((p.path("weight"), weight.shallow_clone()));
        Ok(Conv {
            weight,
            stride,
            padding: k / 2,
        })
    }

    pub(super) fn bn(&mut self, p: &nn::Path, c: i64) -> Result<BatchNorm> {
        let bn = BatchNorm::new(p, c)?;
        self.params
            .push((p.path("weight"), bn.weight.shallow_clone()));
        self.params.push((p.path("bias"), bn.bias.shallow_clone()));
        Ok(bn)
    }
}

/// Refuses a non-positive number of input channels.
pub(super) fn check_channels(in_channels: i64) -> Result<()> {
    if in_channels <= 0 {
        return Err(Error::Model(format!(
            "in_channels must be positive, got {in_channels}"
        )));
    }
    Ok(())
}
