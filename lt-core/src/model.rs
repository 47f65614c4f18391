//! ResNet backbones in tch, each split into a feature extractor ([`Backbone`]) and a linear
//! classifier ([`Head`]) because the decoupled two-stage methods (cRT, LWS, MiSLAS) retrain the
//! head on a frozen backbone.
//!
//! Variable names: [`build`] puts the backbone under `<path>/backbone` and the head under
//! `<path>/head`, so a checkpoint can restore either part by prefix (e.g. `backbone.conv1.weight`,
//! `head.weight`).
//!
//! Architectures:
//! * `resnet20/32/44/56/110` — CIFAR ResNets (He et al. 2016, §4.2): a 3x3 stem, three stages
//!   of basic blocks with 16/32/64 channels, global average pooling; feature dim 64. Shortcut
//!   option A (strided subsampling + zero channel padding, parameter-free, as LDAM-DRW and
//!   MiSLAS use) by default; append `b` (`resnet32b`) for option B (1x1 conv + BN projection).
//!   Kaiming-normal (fan-in) init of convolutions and the head weight.
//! * `resnet10/18/34` (basic blocks) and `resnet50/101/152` (bottlenecks) — ImageNet ResNets
//!   (torchvision layout, stride on the 3x3 conv), feature dims 512 / 2048. Kaiming-normal
//!   (fan-out) init of convolutions, PyTorch default init of the head.
//!
//! Batch norm: every BN layer is a [`BatchNorm`] that the trainer can enumerate
//! ([`Backbone::batch_norms`]) to (a) run BN with running statistics while the rest trains
//! ([`Backbone::set_bn_eval`]) and (b) freeze the affine parameters while the running
//! statistics still update ([`Backbone::set_bn_affine_trainable`]; MiSLAS' shifted BN is a
//! train-mode forward under `tch::no_grad`, which updates running stats and leaves weights).
//!
//! Memory format: contiguous NCHW by default, as PyTorch eager; [`Backbone::set_channels_last`]
//! re-lays the convolution weights out channels-last (NHWC strides, same shapes and names) and
//! makes [`Backbone::forward_features`] convert its input, like
//! `model.to(memory_format=torch.channels_last)` plus converting each batch.
use anyhow::{bail, Context, Result};
use tch::nn::init::{FanInOut, NonLinearity, NormalOrUniform};
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
    fn new(p: &nn::Path, channels: i64) -> Result<Self> {
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

/// Bias-free 2-D convolution (every ResNet conv is followed by BN).
#[derive(Debug)]
struct Conv {
    weight: Tensor,
    stride: i64,
    padding: i64,
}

impl Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
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
enum Shortcut {
    Identity,
    /// Option A: take every second pixel and zero-pad `pad` channels on each side.
    PadA {
        pad: i64,
    },
    /// Option B / torchvision downsample: 1x1 conv with stride, then BN.
    Projection(Conv, BatchNorm),
}

impl Shortcut {
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
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
enum Block {
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
    fn forward(&self, x: &Tensor, bn_train: bool) -> Tensor {
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

    fn batch_norms(&self) -> Vec<&BatchNorm> {
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

/// Shortcut kind of the CIFAR ResNets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarShortcut {
    /// Parameter-free: subsample and zero-pad channels (LDAM-DRW, MiSLAS).
    A,
    /// 1x1 convolution + BN projection.
    B,
}

/// Collects the trainable variables (with full names) while a backbone is built.
struct Collector {
    params: Vec<(String, Tensor)>,
    conv_init: Init,
}

impl Collector {
    fn conv(&mut self, p: &nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> Result<Conv> {
        let weight = p.f_var("weight", &[cout, cin, k, k], self.conv_init)?;
        self.params.push((p.path("weight"), weight.shallow_clone()));
        Ok(Conv {
            weight,
            stride,
            padding: k / 2,
        })
    }

    fn bn(&mut self, p: &nn::Path, c: i64) -> Result<BatchNorm> {
        let bn = BatchNorm::new(p, c)?;
        self.params
            .push((p.path("weight"), bn.weight.shallow_clone()));
        self.params.push((p.path("bias"), bn.bias.shallow_clone()));
        Ok(bn)
    }
}

/// Feature extractor: everything of a ResNet up to and including global average pooling.
#[derive(Debug)]
pub struct Backbone {
    arch: String,
    stem_conv: Conv,
    stem_bn: BatchNorm,
    /// ImageNet stem: 3x3/2 max-pool after the first conv.
    stem_pool: bool,
    blocks: Vec<Block>,
    feature_dim: i64,
    bn_eval: bool,
    /// Convolution weights (and inputs, in the forward) in channels-last memory format.
    channels_last: bool,
    params: Vec<(String, Tensor)>,
}

impl Backbone {
    /// Pooled features `[N, feature_dim]` of images `[N, C, H, W]`. `train` selects batch
    /// statistics in BN (and updates the running ones) unless [`Backbone::set_bn_eval`] is on.
    /// With [`Backbone::set_channels_last`] on, a 4-d input is first made channels-last (a copy
    /// unless it already is).
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
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
        for b in &self.blocks {
            out = b.forward(&out, bn_train);
        }
        out.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }

    /// Width of the feature vector: 64 (CIFAR ResNets), 512 (basic-block ImageNet ResNets),
    /// 2048 (bottleneck ResNets).
    pub fn feature_dim(&self) -> i64 {
        self.feature_dim
    }

    /// Architecture name as given to [`build`].
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Every BN layer, stem first, in forward order.
    pub fn batch_norms(&self) -> Vec<&BatchNorm> {
        let mut v = vec![&self.stem_bn];
        for b in &self.blocks {
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
                crate::ops::set_channels_last(t).with_context(|| name.clone())?;
            } else {
                let _guard = tch::no_grad_guard();
                let mut t = t.shallow_clone();
                let c = t.f_contiguous()?;
                t.f_set_data(&c).with_context(|| name.clone())?;
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
            bail!("head needs positive sizes, got in_dim {in_dim}, num_classes {num_classes}");
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

/// CIFAR ResNet of depth `6n+2` (ResNet-32: n = 5, about 0.46 M parameters with a 10-class
/// head). Variables are created directly under `p`.
pub fn resnet_cifar(
    p: &nn::Path,
    depth: i64,
    in_channels: i64,
    shortcut: CifarShortcut,
) -> Result<Backbone> {
    if depth < 8 || (depth - 2) % 6 != 0 {
        bail!("CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}");
    }
    check_channels(in_channels)?;
    let n = (depth - 2) / 6;
    let mut c = Collector {
        params: Vec::new(),
        conv_init: Init::Kaiming {
            dist: NormalOrUniform::Normal,
            fan: FanInOut::FanIn,
            non_linearity: NonLinearity::ReLU,
        },
    };
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
        params: c.params,
    })
}

/// ResNet-32 for CIFAR-sized inputs (feature dim 64); see [`resnet_cifar`].
pub fn resnet32(p: &nn::Path, in_channels: i64) -> Result<Backbone> {
    resnet_cifar(p, 32, in_channels, CifarShortcut::A)
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
    let mut c = Collector {
        params: Vec::new(),
        conv_init: Init::Kaiming {
            dist: NormalOrUniform::Normal,
            fan: FanInOut::FanOut,
            non_linearity: NonLinearity::ReLU,
        },
    };
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
        params: c.params,
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

fn check_channels(in_channels: i64) -> Result<()> {
    if in_channels <= 0 {
        bail!("in_channels must be positive, got {in_channels}");
    }
    Ok(())
}

/// Names accepted by [`build`].
pub const ARCHS: &[&str] = &[
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet20b",
    "resnet32b",
    "resnet44b",
    "resnet56b",
    "resnet110b",
    "resnet10",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
];

/// Builds backbone and head by name: backbone variables under `vs_path/backbone`, head under
/// `vs_path/head` (a `Linear(feature_dim, num_classes)`).
pub fn build(
    name: &str,
    vs_path: &nn::Path,
    in_channels: i64,
    num_classes: i64,
) -> Result<(Backbone, Head)> {
    let bp = vs_path / "backbone";
    let lower = name.to_ascii_lowercase();
    let backbone = match lower.as_str() {
        "resnet10" => resnet_imagenet(&bp, "resnet10", [1, 1, 1, 1], false, in_channels),
        "resnet18" => resnet_imagenet(&bp, "resnet18", [2, 2, 2, 2], false, in_channels),
        "resnet34" => resnet_imagenet(&bp, "resnet34", [3, 4, 6, 3], false, in_channels),
        "resnet50" => resnet_imagenet(&bp, "resnet50", [3, 4, 6, 3], true, in_channels),
        "resnet101" => resnet_imagenet(&bp, "resnet101", [3, 4, 23, 3], true, in_channels),
        "resnet152" => resnet_imagenet(&bp, "resnet152", [3, 8, 36, 3], true, in_channels),
        s => {
            let (digits, sc) = match s.strip_suffix('b') {
                Some(d) => (d, CifarShortcut::B),
                None => (s, CifarShortcut::A),
            };
            let depth = digits
                .strip_prefix("resnet")
                .and_then(|d| d.parse::<i64>().ok())
                .filter(|d| [20, 32, 44, 56, 110].contains(d));
            match depth {
                Some(d) => resnet_cifar(&bp, d, in_channels, sc),
                None => bail!("unknown model '{name}'; known: {}", ARCHS.join(", ")),
            }
        }
    }
    .with_context(|| format!("building model '{name}'"))?;
    let kaiming_head = backbone.feature_dim == 64;
    let head = Head::new(
        &(vs_path / "head"),
        backbone.feature_dim,
        num_classes,
        kaiming_head,
    )
    .with_context(|| format!("building the head of '{name}'"))?;
    Ok((backbone, head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    fn count(vs: &VarStore, prefix: &str, trainable_only: bool) -> i64 {
        vs.variables()
            .iter()
            .filter(|(n, t)| n.starts_with(prefix) && (!trainable_only || t.requires_grad()))
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }

    #[test]
    fn resnet32_parameter_count_and_shapes() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = build("resnet32", &vs.root(), 3, 10).unwrap();
        // 464,154 = 463,504 backbone + 650 head (akamaster/MiSLAS ResNet-32 option A: "0.46M").
        assert_eq!(bb.num_parameters(), 463_504);
        assert_eq!(count(&vs, "backbone.", true), 463_504);
        assert_eq!(count(&vs, "head.", true), 650);
        assert_eq!(bb.feature_dim(), 64);
        assert_eq!(bb.batch_norms().len(), 31);
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let f = bb.forward_features(&x, true);
        assert_eq!(f.size(), [4, 64]);
        assert_eq!(head.forward(&f).size(), [4, 10]);
        // Option B adds 1x1 projection convs + BN at the two downsampling blocks.
        let vs_b = VarStore::new(Device::Cpu);
        let (bb_b, _) = build("resnet32b", &vs_b.root(), 3, 10).unwrap();
        assert_eq!(
            bb_b.num_parameters(),
            463_504 + 16 * 32 + 64 + 32 * 64 + 128
        );
    }

    #[test]
    fn imagenet_resnets_parameter_counts() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = build("resnet50", &vs.root(), 3, 1000).unwrap();
        // torchvision resnet50: 25,557,032 total, of which fc 2,049,000.
        assert_eq!(bb.num_parameters(), 23_508_032);
        assert_eq!(bb.feature_dim(), 2048);
        assert_eq!(
            head.parameters()
                .iter()
                .map(|(_, t)| t.numel())
                .sum::<usize>(),
            2_049_000
        );
        let vs10 = VarStore::new(Device::Cpu);
        let (bb10, _) = build("resnet10", &vs10.root(), 3, 1000).unwrap();
        assert_eq!(bb10.feature_dim(), 512);
        // stem 9,536; stages 73,984 + 230,144 + 919,040 + 3,673,088 (hand-counted).
        assert_eq!(bb10.num_parameters(), 4_905_792);
        let x = Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu));
        assert_eq!(bb10.forward_features(&x, false).size(), [2, 512]);
    }

    #[test]
    fn resnet152_feature_dim() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, _) = build("resnet152", &vs.root(), 3, 365).unwrap();
        assert_eq!(bb.feature_dim(), 2048);
        // torchvision resnet152: 60,192,808 total, of which fc 2,049,000.
        assert_eq!(bb.num_parameters(), 60_192_808 - 2_049_000);
    }

    #[test]
    fn unknown_name_and_bad_channels_are_errors() {
        let vs = VarStore::new(Device::Cpu);
        let e = build("vgg16", &vs.root(), 3, 10).unwrap_err();
        assert!(format!("{e:#}").contains("unknown model 'vgg16'"));
        assert!(build("resnet32", &vs.root(), 0, 10).is_err());
        assert!(build("resnet33", &vs.root(), 3, 10).is_err());
    }

    #[test]
    fn variable_names_split_backbone_and_head() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = build("resnet32", &vs.root(), 1, 7).unwrap();
        let vars = vs.variables();
        assert!(vars.contains_key("backbone.conv1.weight"));
        assert!(vars.contains_key("backbone.layer3.4.bn2.running_var"));
        assert_eq!(head.parameters()[0].0, "head.weight");
        assert_eq!(head.num_classes(), 7);
        assert_eq!(bb.batch_norms()[0].name, "backbone.bn1");
        for (n, _) in bb.parameters() {
            assert!(vars.contains_key(&n), "{n} not in the VarStore");
        }
        assert_eq!(
            vars.len(),
            bb.parameters().len() + 2 + 2 * bb.batch_norms().len()
        );
    }

    #[test]
    fn bn_eval_mode_keeps_running_stats() {
        let vs = VarStore::new(Device::Cpu);
        let (mut bb, _) = build("resnet32", &vs.root(), 3, 10).unwrap();
        let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
        let before = bb.batch_norms()[0].running_mean.copy();
        bb.set_bn_eval(true);
        let _ = tch::no_grad(|| bb.forward_features(&x, true));
        assert!(bb.batch_norms()[0].running_mean.equal(&before));
        bb.set_bn_eval(false);
        let _ = tch::no_grad(|| bb.forward_features(&x, true));
        assert!(!bb.batch_norms()[0].running_mean.equal(&before));
    }

    #[test]
    fn shifted_bn_updates_running_stats_not_affine() {
        // MiSLAS stage 2: frozen backbone, train-mode forward under no_grad.
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = build("resnet32", &vs.root(), 3, 10).unwrap();
        bb.set_trainable(false);
        let params_before: Vec<Tensor> = bb.parameters().iter().map(|(_, t)| t.copy()).collect();
        let stats_before: Vec<Tensor> = bb
            .batch_norms()
            .iter()
            .map(|b| b.running_var.copy())
            .collect();
        let x = Tensor::randn([16, 3, 32, 32], (Kind::Float, Device::Cpu)) * 2.0;
        let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]);
        let feats = tch::no_grad(|| bb.forward_features(&x, true));
        let loss = head.forward(&feats).cross_entropy_for_logits(&y);
        loss.backward();
        assert!(head.weight.grad().defined());
        for ((n, t), b) in bb.parameters().iter().zip(&params_before) {
            assert!(t.equal(b), "{n} changed");
            assert!(!t.grad().defined(), "{n} got a gradient");
        }
        for (bn, s) in bb.batch_norms().iter().zip(&stats_before) {
            assert!(
                !bn.running_var.equal(s),
                "{} running stats not updated",
                bn.name
            );
        }
    }

    #[test]
    fn bn_affine_freeze_keeps_other_grads() {
        let vs = VarStore::new(Device::Cpu);
        let (bb, head) = build("resnet20", &vs.root(), 3, 10).unwrap();
        bb.set_bn_affine_trainable(false);
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        head.forward(&bb.forward_features(&x, true))
            .cross_entropy_for_logits(&y)
            .backward();
        for bn in bb.batch_norms() {
            assert!(!bn.weight.grad().defined() && !bn.bias.grad().defined());
        }
        assert!(bb.parameters()[0].1.grad().defined());
    }

    #[test]
    fn channels_last_keeps_variables_and_values() {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let (mut bb, head) = build("resnet20", &vs.root(), 3, 10).unwrap();
        let x = Tensor::randn([4, 3, 16, 16], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let eval = |bb: &Backbone| tch::no_grad(|| head.forward(&bb.forward_features(&x, false)));
        let before = eval(&bb);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(!bb.channels_last());
        bb.set_channels_last(true).unwrap();
        assert!(bb.channels_last());
        let mut keys: Vec<String> = vs.variables().into_keys().collect();
        let mut expected = names.clone();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        for (n, t) in bb.parameters() {
            assert_eq!(crate::ops::is_channels_last(&t), t.dim() == 4, "{n}");
            assert!(t.requires_grad(), "{n}");
        }
        // The VarStore holds the same (re-laid) tensors.
        let conv1 = &vs.variables()["backbone.conv1.weight"];
        assert!(crate::ops::is_channels_last(conv1));
        let cl = eval(&bb);
        assert!(cl.allclose(&before, 1e-4, 1e-5, false));
        // Training works and the gradients follow the weights' layout.
        head.forward(&bb.forward_features(&x, true))
            .cross_entropy_for_logits(&y)
            .backward();
        assert!(crate::ops::is_channels_last(&conv1.grad()));
        // (That forward updated the BN running statistics: compare against the new ones.)
        let trained = eval(&bb);
        bb.set_channels_last(false).unwrap();
        assert!(bb.parameters().iter().all(|(_, t)| t.is_contiguous()));
        assert!(conv1.is_contiguous() && conv1.grad().defined());
        assert!(eval(&bb).allclose(&trained, 1e-4, 1e-5, false));
    }
}
