//! Weights in and out, compatible with PyTorch.
//!
//! In: `init_backbone = "FILE"` loads a safetensors state dict into a fresh run's model before
//! stage 1 ([`init_backbone`]): torchvision's ImageNet ResNet names (`conv1.weight`,
//! `layer1.0.downsample.0.weight`, head `fc`), the MiSLAS / LDAM-DRW CIFAR ResNet names
//! (`conv1`, `bn1`, `layer1.0.shortcut.0`, head `linear`), or lt-train's own (`backbone.*`,
//! `head.*`); see [`Naming`]. Out: [`export`] writes a checkpoint's model as a torchvision-named
//! safetensors file (the head, plugin head and post-hoc adjustment folded into `fc` when the
//! features-to-logits map is affine, [`fold`]), as lt-train-named safetensors, or as TorchScript.

mod error;
mod export;
mod fold;
mod import;
mod naming;
mod stfile;
mod torchscript;

pub use error::WeightsError;
pub use export::{export, ExportOptions, Exported};
pub use fold::Affine;
pub use import::{init_backbone, HeadInit, InitReport};
pub use naming::{Naming, Part};
pub use stfile::{encode, read, StFile};

/// The version of the exported files' layout (metadata key `lt_format_version`).
pub const FORMAT_VERSION: u32 = 1;

string_enum! {
    /// What `lt-train export` writes.
    pub enum Format {
        /// safetensors with torchvision's (or, for CIFAR ResNets, MiSLAS') names; the head
        /// folded into `fc` / `linear`.
        Torchvision = "torchvision",
        /// safetensors with lt-train's names (`backbone.*`, `head.*`, `head_plugin.*`).
        Safetensors = "safetensors",
        /// A traced TorchScript module: images in, logits out (any head).
        Torchscript = "torchscript",
    }
}
