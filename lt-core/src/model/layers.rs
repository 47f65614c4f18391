//! The building blocks of the ResNets: bias-free convolutions, shortcuts, basic and bottleneck
//! blocks, and the collector that creates their variables under torchvision's names.

use super::BatchNorm;
use crate::{Error, Result};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
use tch::nn::{self, Init};
use tch::Tensor;

/// Bias-free 2-D convolution (every ResNet conv is followed by BN); `groups` > 1 for
/// ResNeXt's grouped 3x3.
#[derive(Debug)]
pub(super) struct Conv {
    pub(super) weight: Tensor,
    pub(super) stride: i64,
    pub(super) padding: i64,
    pub(super) groups: i64,
}

impl Conv {
    pub(super) fn forward(&self, x: &Tensor) -> Tensor {
        x.conv2d(
            &self.weight,
            None::<&Tensor>,
            [self.stride],
            [self.padding],
            [1],
            self.groups,
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

impl Conv {
    /// A freshly initialised convolution of the same shape, stride and padding under `p`.
    fn fresh_like(&self, c: &mut Collector, p: &nn::Path) -> Result<Conv> {
        let [cout, cin, k, _] = self.weight.size()[..] else {
            return Err(Error::Model("a convolution weight is not 4-d".into()));
        };
        let mut conv = c.conv(p, cin, cout, k, self.stride)?;
        conv.padding = self.padding;
        Ok(conv)
    }
}

/// A freshly initialised batch norm as wide as `bn` under `p`.
fn bn_like(bn: &BatchNorm, c: &mut Collector, p: &nn::Path) -> Result<BatchNorm> {
    c.bn(p, bn.weight.size()[0])
}

impl Shortcut {
    fn fresh_like(&self, c: &mut Collector, p: &nn::Path) -> Result<Shortcut> {
        Ok(match self {
            Shortcut::Identity => Shortcut::Identity,
            Shortcut::PadA { pad } => Shortcut::PadA { pad: *pad },
            Shortcut::Projection(conv, bn) => {
                let sp = p / "shortcut";
                Shortcut::Projection(
                    conv.fresh_like(c, &(&sp / "0"))?,
                    bn_like(bn, c, &(&sp / "1"))?,
                )
            }
        })
    }
}

impl Block {
    /// A freshly initialised block of the same shapes under `p` (torchvision's names inside:
    /// `conv1`, `bn1`, ..., `shortcut.0`): a branch's copy of a stage.
    pub(super) fn fresh_like(&self, c: &mut Collector, p: &nn::Path) -> Result<Block> {
        Ok(match self {
            Block::Basic { c1, b1, c2, b2, sc } => Block::Basic {
                c1: c1.fresh_like(c, &(p / "conv1"))?,
                b1: bn_like(b1, c, &(p / "bn1"))?,
                c2: c2.fresh_like(c, &(p / "conv2"))?,
                b2: bn_like(b2, c, &(p / "bn2"))?,
                sc: sc.fresh_like(c, p)?,
            },
            Block::Bottleneck {
                c1,
                b1,
                c2,
                b2,
                c3,
                b3,
                sc,
            } => Block::Bottleneck {
                c1: c1.fresh_like(c, &(p / "conv1"))?,
                b1: bn_like(b1, c, &(p / "bn1"))?,
                c2: c2.fresh_like(c, &(p / "conv2"))?,
                b2: bn_like(b2, c, &(p / "bn2"))?,
                c3: c3.fresh_like(c, &(p / "conv3"))?,
                b3: bn_like(b3, c, &(p / "bn3"))?,
                sc: sc.fresh_like(c, p)?,
            },
        })
    }

    /// `(stage, index)` of the block from its first BN's name (`backbone.layer3.0.bn1` gives
    /// `("layer3", "0")`).
    pub(super) fn position(&self) -> Option<(String, String)> {
        let name = &self.batch_norms()[0].name;
        let mut parts = name.split('.').skip_while(|p| !p.starts_with("layer"));
        Some((parts.next()?.to_string(), parts.next()?.to_string()))
    }
}

/// Collects the trainable variables (with full names) while a backbone is built.
pub(super) struct Collector {
    pub(super) params: Vec<(String, Tensor)>,
    pub(super) conv_init: Init,
}

impl Collector {
    /// No variables yet; convolutions get Kaiming-normal weights over `fan` (ReLU gain).
    pub(super) fn kaiming(fan: FanInOut) -> Self {
        Collector::with_init(Init::Kaiming {
            dist: NormalOrUniform::Normal,
            fan,
            non_linearity: NonLinearity::ReLU,
        })
    }

    /// No variables yet; convolutions get `conv_init`.
    pub(super) fn with_init(conv_init: Init) -> Self {
        Collector {
            params: Vec::new(),
            conv_init,
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
        self.grouped_conv(p, (cin, cout, 1), k, stride)
    }

    /// A convolution whose `cin` input channels split into `groups` (weight [cout, cin/groups,
    /// k, k], as PyTorch's `nn.Conv2d(groups=...)`).
    pub(super) fn grouped_conv(
        &mut self,
        p: &nn::Path,
        (cin, cout, groups): (i64, i64, i64),
        k: i64,
        stride: i64,
    ) -> Result<Conv> {
        let weight = p.f_var("weight", &[cout, cin / groups, k, k], self.conv_init)?;
        self.params.push((p.path("weight"), weight.shallow_clone()));
        Ok(Conv {
            weight,
            stride,
            padding: k / 2,
            groups,
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
