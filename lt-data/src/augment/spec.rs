//! What an augmentation is: its pipeline and geometry ([`Kind`]), train or eval, and what a
//! batch slot receives ([`Output`], [`Dtype`]).

use super::imagenet::Geometry;
use super::pipeline::Pipeline;
use crate::error::{Error, Result};
use crate::format::Layout;

pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR10_STD: [f32; 3] = [0.2023, 0.1994, 0.2010];

/// The recipe and its geometry constants.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Pad by `pad` zeros on every side, crop back to the stored height and width.
    Cifar { pad: usize },
    /// Random-resized-crop to `size` (train) or resize shorter side to `resize` then centre
    /// crop `size` (eval).
    ImageNet(Geometry),
}

/// What a batch slot receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// float32 CHW, `(x / 255 - mean) / std` per channel.
    Normalized { mean: [f32; 3], std: [f32; 3] },
    /// uint8 HWC with every augmentation but the normalisation (done on the device).
    U8,
}

/// Element type and layout of batch images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// N x C x H x W float32.
    F32Nchw,
    /// N x H x W x C uint8.
    U8Nhwc,
}

impl Dtype {
    pub fn elem_bytes(self) -> usize {
        match self {
            Dtype::F32Nchw => 4,
            Dtype::U8Nhwc => 1,
        }
    }
}

/// A complete augmentation: recipe, train or eval, output form.
#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    pub kind: Kind,
    pub train: bool,
    pub output: Output,
}

impl Augment {
    /// CIFAR recipe with the given per-channel mean and std (in [0, 1] units).
    pub fn cifar(train: bool, mean: [f32; 3], std: [f32; 3]) -> Self {
        Augment {
            kind: Kind::Cifar { pad: 4 },
            train,
            output: Output::Normalized { mean, std },
        }
    }
    /// ImageNet recipe at 224 with the ImageNet statistics.
    pub fn imagenet(train: bool) -> Self {
        Augment {
            kind: Kind::ImageNet(Geometry {
                size: 224,
                resize: 256,
                scale: (0.08, 1.0),
                ratio: (3.0 / 4.0, 4.0 / 3.0),
                jitter: 0.4,
            }),
            train,
            output: Output::Normalized {
                mean: IMAGENET_MEAN,
                std: IMAGENET_STD,
            },
        }
    }
    /// The pipeline `p` with its default statistics (CIFAR-10's for `cifar`).
    pub fn for_pipeline(p: Pipeline, train: bool) -> Self {
        match p {
            Pipeline::Cifar => Augment::cifar(train, CIFAR10_MEAN, CIFAR10_STD),
            Pipeline::ImageNet => Augment::imagenet(train),
        }
    }
    /// `cifar` (CIFAR-10 statistics) or `imagenet`.
    pub fn by_name(name: &str, train: bool) -> Result<Self> {
        Ok(Augment::for_pipeline(name.parse()?, train))
    }
    /// The same augmentation writing uint8 HWC without normalising.
    pub fn uint8(mut self) -> Self {
        self.output = Output::U8;
        self
    }
    pub fn dtype(&self) -> Dtype {
        match self.output {
            Output::Normalized { .. } => Dtype::F32Nchw,
            Output::U8 => Dtype::U8Nhwc,
        }
    }
    /// Height, width, channels of one output image for samples stored as `layout`.
    pub fn out_shape(&self, layout: Layout) -> Result<(usize, usize, usize)> {
        match (&self.kind, layout) {
            (Kind::Cifar { .. }, Layout::Raw { height, width, channels }) => {
                if channels != 1 && channels != 3 {
                    return Err(Error::invalid(format!(
                        "cifar augmentation needs 1 or 3 channels, split has {channels}"
                    )));
                }
                Ok((height as usize, width as usize, channels as usize))
            }
            (Kind::Cifar { .. }, Layout::Encoded(_)) => Err(Error::invalid(
                "cifar augmentation needs a raw split of fixed shape; use imagenet for encoded images",
            )),
            (Kind::ImageNet(_), Layout::Raw { channels, .. }) if channels != 1 && channels != 3 => {
                Err(Error::invalid(format!("imagenet augmentation needs 1 or 3 channels, split has {channels}")))
            }
            (Kind::ImageNet(g), _) => Ok((g.size, g.size, 3)),
        }
    }
    /// Elements (not bytes) of one output image.
    pub fn sample_elems(&self, layout: Layout) -> Result<usize> {
        let (h, w, c) = self.out_shape(layout)?;
        Ok(h * w * c)
    }
}
