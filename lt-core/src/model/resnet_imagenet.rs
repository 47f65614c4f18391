//! ImageNet ResNets in torchvision's layout (stride on the 3x3 conv; variable names as
//! torchvision's, so its weights load): `resnet10/18/34` (basic blocks, feature dim 512) and
//! `resnet50/101/152` and `resnext50_32x4d` (bottlenecks, feature dim 2048). Kaiming-normal (fan-out) init of the
//! convolutions, PyTorch's default init of the head.

use super::arch::ArchSpec;
use super::layers::{check_channels, Block, Collector, Shortcut};
use super::Backbone;
use crate::Result;
use tch::nn;
use tch::nn::init::FanInOut;

/// The registry lines of this family (see [`super::arch`]).
pub const ARCHS: &[ArchSpec] = &[
    imagenet("resnet10", |p, c| {
        resnet_imagenet(p, "resnet10", [1, 1, 1, 1], false, c)
    }),
    imagenet("resnet18", |p, c| {
        resnet_imagenet(p, "resnet18", [2, 2, 2, 2], false, c)
    }),
    imagenet("resnet34", |p, c| {
        resnet_imagenet(p, "resnet34", [3, 4, 6, 3], false, c)
    }),
    imagenet("resnet50", |p, c| {
        resnet_imagenet(p, "resnet50", [3, 4, 6, 3], true, c)
    }),
    imagenet("resnet101", |p, c| {
        resnet_imagenet(p, "resnet101", [3, 4, 23, 3], true, c)
    }),
    imagenet("resnet152", |p, c| {
        resnet_imagenet(p, "resnet152", [3, 8, 36, 3], true, c)
    }),
    imagenet("resnext50_32x4d", resnext50_32x4d),
];

/// An ImageNet-sized architecture (224x224 inputs) with PyTorch's default head init.
const fn imagenet(name: &'static str, build: fn(&nn::Path, i64) -> Result<Backbone>) -> ArchSpec {
    ArchSpec {
        name,
        build,
        input_size: 224,
        kaiming_head: false,
    }
}

/// The residual blocks of an ImageNet ResNet.
#[derive(Clone, Copy)]
enum Blocks {
    /// 3x3-3x3, expansion 1 (ResNet-10/18/34).
    Basic,
    /// 1x1-3x3-1x1, expansion 4, with a 3x3 of `planes * width_per_group / 64 * groups`
    /// channels in `groups` groups: ResNet-50/101/152 have (1, 64), ResNeXt-50 32x4d (32, 4),
    /// as torchvision's `Bottleneck`.
    Bottleneck { groups: i64, width_per_group: i64 },
}

/// ImageNet ResNet (torchvision layout). `layers`: blocks per stage; `bottleneck`: 1x1-3x3-1x1
/// blocks with expansion 4 (ResNet-50/101/152) instead of basic blocks (ResNet-10/18/34).
pub fn resnet_imagenet(
    p: &nn::Path,
    arch: &str,
    layers: [i64; 4],
    bottleneck: bool,
    in_channels: i64,
) -> Result<Backbone> {
    let blocks = if bottleneck {
        Blocks::Bottleneck {
            groups: 1,
            width_per_group: 64,
        }
    } else {
        Blocks::Basic
    };
    build(p, arch, layers, blocks, in_channels)
}

/// ResNeXt-50 32x4d (torchvision's `resnext50_32x4d`; the ImageNet-LT backbone of Kang et al.,
/// Decoupling), feature dim 2048.
pub fn resnext50_32x4d(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    let blocks = Blocks::Bottleneck {
        groups: 32,
        width_per_group: 4,
    };
    build(p, "resnext50_32x4d", [3, 4, 6, 3], blocks, in_channels)
}

fn build(
    p: &nn::Path,
    arch: &str,
    layers: [i64; 4],
    kind: Blocks,
    in_channels: i64,
) -> Result<Backbone> {
    check_channels(in_channels)?;
    let mut c = Collector::kaiming(FanInOut::FanOut);
    let stem_conv = c.conv(&(p / "conv1"), in_channels, 64, 7, 2)?;
    let stem_bn = c.bn(&(p / "bn1"), 64)?;
    let expansion = match kind {
        Blocks::Basic => 1,
        Blocks::Bottleneck { .. } => 4,
    };
    let mut blocks = Vec::new();
    let mut cin = 64;
    for (stage, (&planes, &count)) in [64i64, 128, 256, 512].iter().zip(layers.iter()).enumerate() {
        let lp = p / format!("layer{}", stage + 1);
        for i in 0..count {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let cout = planes * expansion;
            blocks.push(block(
                &mut c,
                &(&lp / i),
                (cin, planes, cout),
                stride,
                kind,
            )?);
            cin = cout;
        }
    }
    Ok(Backbone {
        arch: arch.to_string(),
        stem_conv,
        stem_bn,
        stem_pool: true,
        blocks,
        feature_dim: 512 * expansion,
        bn_eval: false,
        channels_last: false,
        conv_init: c.conv_init,
        params: c.params,
        branches: Vec::new(),
    })
}

/// One residual block under `bp` (`layerN.i`), with torchvision's `downsample` when the shape
/// changes.
fn block(
    c: &mut Collector,
    bp: &nn::Path,
    (cin, planes, cout): (i64, i64, i64),
    stride: i64,
    kind: Blocks,
) -> Result<Block> {
    let sc = if stride != 1 || cin != cout {
        let dp = bp / "downsample";
        Shortcut::Projection(
            c.conv(&(&dp / "0"), cin, cout, 1, stride)?,
            c.bn(&(&dp / "1"), cout)?,
        )
    } else {
        Shortcut::Identity
    };
    Ok(match kind {
        Blocks::Bottleneck {
            groups,
            width_per_group,
        } => {
            let w = planes * width_per_group / 64 * groups;
            Block::Bottleneck {
                c1: c.conv(&(bp / "conv1"), cin, w, 1, 1)?,
                b1: c.bn(&(bp / "bn1"), w)?,
                c2: c.grouped_conv(&(bp / "conv2"), (w, w, groups), 3, stride)?,
                b2: c.bn(&(bp / "bn2"), w)?,
                c3: c.conv(&(bp / "conv3"), w, cout, 1, 1)?,
                b3: c.bn(&(bp / "bn3"), cout)?,
                sc,
            }
        }
        Blocks::Basic => Block::Basic {
            c1: c.conv(&(bp / "conv1"), cin, planes, 3, stride)?,
            b1: c.bn(&(bp / "bn1"), planes)?,
            c2: c.conv(&(bp / "conv2"), planes, planes, 3, 1)?,
            b2: c.bn(&(bp / "bn2"), planes)?,
            sc,
        },
    })
}

/// ResNet-10 (ImageNet-LT baseline of Kang et al.), feature dim 512.
pub fn resnet10(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    resnet_imagenet(p, "resnet10", [1, 1, 1, 1], false, in_channels)
}

/// ResNet-50 (ImageNet-LT, iNaturalist), feature dim 2048.
pub fn resnet50(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    resnet_imagenet(p, "resnet50", [3, 4, 6, 3], true, in_channels)
}

/// ResNet-152 (Places-LT), feature dim 2048.
pub fn resnet152(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    resnet_imagenet(p, "resnet152", [3, 8, 36, 3], true, in_channels)
}
