//! The architecture registry: every backbone a configuration or `lt-train bench --model` can
//! name, and what the rest of the toolkit needs to know about it (the input size it is made for,
//! how its head is initialised). Names are parsed into an [`Arch`] once, where they are read.
//!
//! Adding a backbone: write its builder (`fn(&nn::Path, in_channels) -> Result<Backbone>`) in a
//! file of this folder, one file per family (`resnet_cifar.rs`, `resnet_imagenet.rs`), and add
//! one line to that family's `ARCHS` list; a new family also adds its list to [`FAMILIES`].

use super::{resnet_cifar, resnet_imagenet, Backbone, Head};
use crate::{Error, Result};
use tch::nn;

/// What the toolkit knows about one architecture: a registry line.
pub struct ArchSpec {
    /// Its name in configurations, lower case.
    pub name: &'static str,
    /// Builds the backbone, its variables directly under the path, for images with the given
    /// number of channels.
    pub build: fn(&nn::Path, i64) -> Result<Backbone>,
    /// Side of the square images it is made for (the benchmark's input): 32 or 224.
    pub input_size: i64,
    /// Kaiming-normal (fan-in) head weight, as the CIFAR ResNets; otherwise PyTorch's
    /// `nn.Linear` default.
    pub kaiming_head: bool,
}

/// Every family's registry lines, in the order error messages list the names.
pub const FAMILIES: &[&[ArchSpec]] = &[resnet_cifar::ARCHS, resnet_imagenet::ARCHS];

/// An architecture of the registry. Spelled by name in configurations (any case; written in
/// lower case).
#[derive(Clone, Copy)]
pub struct Arch(&'static ArchSpec);

impl Arch {
    /// Every registered architecture, in [`FAMILIES`] order.
    pub fn all() -> impl Iterator<Item = Arch> {
        FAMILIES.iter().flat_map(|f| f.iter()).map(Arch)
    }

    /// Its registry line.
    pub fn spec(self) -> &'static ArchSpec {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Side of the square images it is made for: 32 (CIFAR ResNets) or 224.
    pub fn input_size(self) -> i64 {
        self.0.input_size
    }

    /// Whether its head weight is Kaiming-normal (CIFAR ResNets) rather than PyTorch's default.
    pub fn kaiming_head(self) -> bool {
        self.0.kaiming_head
    }
}

impl PartialEq for Arch {
    fn eq(&self, other: &Arch) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Arch {}

impl std::fmt::Debug for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Arch({})", self.name())
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    /// Case-insensitive; the error lists the known names.
    fn from_str(s: &str) -> std::result::Result<Arch, String> {
        let lower = s.to_ascii_lowercase();
        Arch::all().find(|a| a.name() == lower).ok_or_else(|| {
            let known: Vec<&str> = Arch::all().map(Arch::name).collect();
            format!("unknown model '{s}'; known: {}", known.join(", "))
        })
    }
}

impl TryFrom<String> for Arch {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Arch, String> {
        s.parse()
    }
}

impl From<Arch> for String {
    fn from(a: Arch) -> String {
        a.name().to_string()
    }
}

impl serde::Serialize for Arch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Arch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Arch, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Builds backbone and head of `arch`: backbone variables under `vs_path/backbone`, head under
/// `vs_path/head` (a `Linear(feature_dim, num_classes)`, initialised as the architecture says).
pub fn build(
    arch: Arch,
    vs_path: &nn::Path,
    in_channels: i64,
    num_classes: i64,
) -> Result<(Backbone, Head)> {
    let failed = |part: &'static str| {
        move |e: Error| Error::Build {
            part,
            arch: arch.name().to_string(),
            source: Box::new(e),
        }
    };
    let backbone = (arch.0.build)(&(vs_path / "backbone"), in_channels).map_err(failed("model"))?;
    let head = Head::new(
        &(vs_path / "head"),
        backbone.feature_dim(),
        num_classes,
        arch.kaiming_head(),
    )
    .map_err(failed("the head of"))?;
    Ok((backbone, head))
}
