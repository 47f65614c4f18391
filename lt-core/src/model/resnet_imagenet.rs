//! ImageNet ResNets in torchvision's layout (stride on the 3x3 conv; variable names as
//! torchvision's, so its weights load): `resnet10/18/34` (basic blocks, feature dim 512) and
//! `resnet50/101/152` (bottlenecks, feature dim 2048). Kaiming-normal (fan-out) init of the
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

/// ImageNet ResNet (torchvision layout). `layers`: blocks per stage; `bottleneck`: 1x1-3x3-1x1
/// blocks with expansion 4 (ResNet-50/101/152) instead of basic blocks (ResNet-10/18/34).
pub fn resnet_imagenet(
    p: &nn::Path,
    arch: &str,
    layers: [i64; 4],
    bottleneck: bool,
    in_channels: i64,
) -> Result<Backbone> {
    check_channels(in_channels)?;
    let mut c = Collector::kaiming(FanInOut::FanOut);
    let stem_conv = c.conv(&(p / "conv1"), in_channels, 64, 7, 2)?;
    let stem_bn = c.bn(&(p / "bn1"), 64)?;
    let expansion = if bottleneck { 4 } else { 1 };
    let mut blocks = Vec::new();
    let mut cin = 64;
    for (stage, (&planes, &count)) in [64i64, 128, 256, 512].iter().zip(layers.iter()).enumerate() {
        let lp = p / format!("layer{}", stage + 1);
        for i in 0..count {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let bp = &lp / i;
            let cout = planes * expansion;
            let sc = if stride != 1 || cin != cout {
                let dp = &bp / "downsample";
                Shortcut::Projection(
                    c.conv(&(&dp / "0"), cin, cout, 1, stride)?,
                    c.bn(&(&dp / "1"), cout)?,
                )
            } else {
                Shortcut::Identity
            };
            let block = if bottleneck {
                Block::Bottleneck {
                    c1: c.conv(&(&bp / "conv1"), cin, planes, 1, 1)?,
                    b1: c.bn(&(&bp / "bn1"), planes)?,
                    c2: c.conv(&(&bp / "conv2"), planes, planes, 3, stride)?,
                    b2: c.bn(&(&bp / "bn2"), planes)?,
                    c3: c.conv(&(&bp / "conv3"), planes, cout, 1, 1)?,
                    b3: c.bn(&(&bp / "bn3"), cout)?,
                    sc,
                }
            } else {
                Block::Basic {
                    c1: c.conv(&(&bp / "conv1"), cin, planes, 3, stride)?,
                    b1: c.bn(&(&bp / "bn1"), planes)?,
                    c2: c.conv(&(&bp / "conv2"), planes, planes, 3, 1)?,
                    b2: c.bn(&(&bp / "bn2"), planes)?,
                    sc,
                }
            };
            blocks.push(block);
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
