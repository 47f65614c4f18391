//! What a plugin declares about itself: its components and the one-line summary
//! `lt-train plugins` prints.

use std::fmt;
use std::path::PathBuf;

/// The kinds of component a plugin can provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    Sampler,
    /// A loss on logits and labels (ABI version 1).
    Loss,
    Head,
    /// A loss that may see features, experts, a second batch or view (ABI version 2).
    FeatureLoss,
    /// Branches (experts) on a shared trunk, with their classifiers (ABI version 2).
    Model,
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ComponentKind::Sampler => "sampler",
            ComponentKind::Loss => "loss",
            ComponentKind::Head => "head",
            ComponentKind::FeatureLoss => "feature-loss",
            ComponentKind::Model => "model",
        })
    }
}

/// One component a plugin declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub kind: ComponentKind,
    pub name: String,
    pub doc: String,
}

/// What a plugin declares about itself, copied out of its table.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Version of the lt-plugin SDK the plugin was built with.
    pub sdk_version: String,
    /// Default stage configs (TOML), if the plugin ships a recipe.
    pub recipe: Option<String>,
    pub components: Vec<ComponentInfo>,
    pub path: PathBuf,
    /// The ABI version the plugin reported (1 or 2).
    pub abi_version: u32,
}

impl PluginInfo {
    /// Names of the components of one kind.
    pub fn names(&self, kind: ComponentKind) -> Vec<&str> {
        self.components
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The one-line form `lt-train plugins` prints: name, version, components, recipe flag, path.
impl fmt::Display for PluginInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let comps: Vec<String> = self
            .components
            .iter()
            .map(|c| format!("{}:{}", c.kind, c.name))
            .collect();
        write!(f, "{} {} [{}]", self.name, self.version, comps.join(", "))?;
        if self.recipe.is_some() {
            f.write_str(" +recipe")?;
        }
        write!(f, " - {} ({})", self.description, self.path.display())
    }
}
