//! ResNet backbones in tch, each split into a feature extractor ([`Backbone`]) and a linear
//! classifier ([`Head`]) because the decoupled two-stage methods (cRT, LWS, MiSLAS) retrain the
//! head on a frozen backbone.
//!
//! Layout: the architecture registry is [`arch`] (names, and what each architecture implies);
//! each family of backbones has its own file ([`resnet_cifar`], [`resnet_imagenet`]), built from
//! the layers in `layers` and [`batch_norm`] into a [`Backbone`], with a linear [`Head`].
//! Adding a backbone: its builder in a family file (or a new file for a new family) and a line
//! in that family's `ARCHS` list (a new family: its list in `arch::FAMILIES`).
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

pub mod arch;
mod backbone;
pub mod batch_norm;
mod branches;
mod head;
mod layers;
pub mod resnet_cifar;
pub mod resnet_imagenet;
#[cfg(test)]
mod tests;

pub use arch::{build, Arch, ArchSpec};
pub use backbone::Backbone;
pub use batch_norm::BatchNorm;
pub use head::Head;
pub use resnet_cifar::{resnet32, resnet_cifar, CifarShortcut};
pub use resnet_imagenet::{resnet10, resnet152, resnet50, resnet_imagenet, resnext50_32x4d};
