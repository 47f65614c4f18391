//! CIFAR ResNets (He et al. 2016, section 4.2): a 3x3 stem, three stages of basic blocks with
//! 16/32/64 channels, global average pooling; feature dim 64. Shortcut option A (strided
//! subsampling + zero channel padding, parameter-free, as LDAM-DRW and MiSLAS use), or B
//! (`resnet32b`: 1x1 conv + BN projection). Kaiming-normal (fan-in) init of the convolutions
//! and of the head weight.

use super::arch::ArchSpec;
use super::layers::{check_channels, Block, Collector, Shortcut};
use super::Backbone;
use crate::{Error, Result};
use tch::nn;
use tch::nn::init::FanInOut;

/// The registry lines of this family (see [`super::arch`]).
pub const ARCHS: &[ArchSpec] = &[
    cifar("resnet20", |p, c| resnet_cifar(p, 20, c, CifarShortcut::A)),
    cifar("resnet32", |p, c| resnet_cifar(p, 32, c, CifarShortcut::A)),
    cifar("resnet44", |p, c| resnet_cifar(p, 44, c, CifarShortcut::A)),
    cifar("resnet56", |p, c| resnet_cifar(p, 56, c, CifarShortcut::A)),
    cifar("resnet110", |p, c| {
        resnet_cifar(p, 110, c, CifarShortcut::A)
    }),
    cifar("resnet20b", |p, c| resnet_cifar(p, 20, c, CifarShortcut::B)),
    cifar("resnet32b", |p, c| resnet_cifar(p, 32, c, CifarShortcut::B)),
    cifar("resnet44b", |p, c| resnet_cifar(p, 44, c, CifarShortcut::B)),
    cifar("resnet56b", |p, c| resnet_cifar(p, 56, c, CifarShortcut::B)),
    cifar("resnet110b", |p, c| {
        resnet_cifar(p, 110, c, CifarShortcut::B)
    }),
];

/// A CIFAR-sized architecture (32x32 inputs) with a Kaiming-initialised head.
const fn cifar(name: &'static str, build: fn(&nn::Path, i64) -> Result<Backbone>) -> ArchSpec {
    ArchSpec {
        name,
        build,
        input_size: 32,
        kaiming_head: true,
    }
}

/// Shortcut kind of the CIFAR ResNets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarShortcut {
    /// Parameter-free: subsample and zero-pad channels (LDAM-DRW, MiSLAS).
    A,
    /// 1x1 convolution + BN projection.
    B,
}

/// CIFAR ResNet of depth `6n+2` (ResNet-32: n = 5, about 0.46 M parameters with a 10-class
/// head). Variables are created directly under `p`.
pub fn resnet_cifar(
    p: &nn::Path,
    depth: i64,
    in_channels: i64,
    shortcut: CifarShortcut,
) -> Result<Backbone> {
    if depth < 8 || (depth - 2) % 6 != 0 {
        return Err(Error::Model(format!(
            "CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}"
        )));
    }
    check_channels(in_channels)?;
    let n = (depth - 2) / 6;
    let mut c = Collector::kaiming(FanInOut::FanIn);
    let stem_conv = c.conv(&(p / "conv1"), in_channels, 16, 3, 1)?;
    let stem_bn = c.bn(&(p / "bn1"), 16)?;
    let mut blocks = Vec::new();
    let mut cin = 16;
    for (stage, &planes) in [16i64, 32, 64].iter().enumerate() {
        let lp = p / format!("layer{}", stage + 1);
        for i in 0..n {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let bp = &lp / i;
            let c1 = c.conv(&(&bp / "conv1"), cin, planes, 3, stride)?;
            let b1 = c.bn(&(&bp / "bn1"), planes)?;
            let c2 = c.conv(&(&bp / "conv2"), planes, planes, 3, 1)?;
            let b2 = c.bn(&(&bp / "bn2"), planes)?;
            let sc = if stride == 1 && cin == planes {
                Shortcut::Identity
            } else {
                match shortcut {
                    CifarShortcut::A => Shortcut::PadA {
                        pad: (planes - cin) / 2,
                    },
                    CifarShortcut::B => {
                        let sp = &bp / "shortcut";
                        Shortcut::Projection(
                            c.conv(&(&sp / "0"), cin, planes, 1, stride)?,
                            c.bn(&(&sp / "1"), planes)?,
                        )
                    }
                }
            };
            blocks.push(Block::Basic { c1, b1, c2, b2, sc });
            cin = planes;
        }
    }
    let suffix = if shortcut == CifarShortcut::B {
        "b"
    } else {
        ""
    };
    Ok(Backbone {
        arch: format!("resnet{depth}{suffix}"),
        stem_conv,
        stem_bn,
        stem_pool: false,
        blocks,
        feature_dim: 64,
        bn_eval: false,
        channels_last: false,
        conv_init: c.conv_init,
        params: c.params,
        branches: Vec::new(),
    })
}

/// ResNet-32 for CIFAR-sized inputs (feature dim 64); see [`resnet_cifar`].
pub fn resnet32(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    resnet_cifar(p, 32, in_channels, CifarShortcut::A)
}
