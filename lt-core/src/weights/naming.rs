//! How a weights file names a ResNet's variables, and where each of its keys belongs in
//! lt-train's model. lt-train's backbone variables are torchvision's (or MiSLAS') names under
//! `backbone.`, so the namings differ in the prefix and in the head's name only.

/// A naming of ResNet variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// torchvision's ImageNet ResNets: `conv1.weight`, `layer1.0.downsample.0.weight`,
    /// `bn1.running_mean`, head `fc.weight` / `fc.bias`.
    Torchvision,
    /// The MiSLAS / LDAM-DRW CIFAR ResNets: `conv1`, `bn1`, `layer1.0.conv1`,
    /// `layer1.0.shortcut.0` (option B), head `linear.weight` / `linear.bias`.
    Cifar,
    /// lt-train's own: `backbone.*`, `head.*`, and a plugin head's `head_plugin.*`.
    Lt,
}

/// Where a file's key belongs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// The backbone variable of that lt-train name (`backbone.conv1.weight`).
    Backbone(String),
    /// The linear head's field (`weight`, `bias`).
    Head(String),
    /// A plugin head's tensor (`head_plugin.*`), rebuilt by the run's stage instead.
    PluginHead,
    /// A BN `num_batches_tracked` counter (lt-train's BN uses a fixed momentum).
    Ignored,
    /// Nothing of a ResNet in this naming.
    Unknown,
}

const PLUGIN_PREFIX: &str = "head_plugin.";
const COUNTER: &str = ".num_batches_tracked";

impl Naming {
    /// The naming of a file from its keys: lt-train's when one starts with `backbone.`,
    /// MiSLAS' when the head is `linear`, torchvision's otherwise.
    pub fn detect<'a>(keys: impl IntoIterator<Item = &'a str> + Clone) -> Naming {
        if keys.clone().into_iter().any(|k| k.starts_with("backbone.")) {
            Naming::Lt
        } else if keys.into_iter().any(|k| k.starts_with("linear.")) {
            Naming::Cifar
        } else {
            Naming::Torchvision
        }
    }

    /// The PyTorch naming of an architecture: MiSLAS' for the CIFAR ResNets, torchvision's
    /// for the others.
    pub fn for_arch(arch: &str) -> Naming {
        if crate::model::resnet_cifar::ARCHS
            .iter()
            .any(|a| a.name == arch)
        {
            Naming::Cifar
        } else {
            Naming::Torchvision
        }
    }

    /// `torchvision`, `cifar` or `lt` (the exported files' `lt_naming`).
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::Torchvision => "torchvision",
            Naming::Cifar => "cifar",
            Naming::Lt => "lt",
        }
    }

    fn head_prefix(self) -> &'static str {
        match self {
            Naming::Torchvision => "fc.",
            Naming::Cifar => "linear.",
            Naming::Lt => "head.",
        }
    }

    /// Where the file's `key` belongs in the model.
    pub fn classify(self, key: &str) -> Part {
        if key.ends_with(COUNTER) {
            return Part::Ignored;
        }
        if let Some(field) = key.strip_prefix(self.head_prefix()) {
            return Part::Head(field.to_string());
        }
        match self {
            Naming::Lt if key.starts_with("backbone.") => Part::Backbone(key.to_string()),
            Naming::Lt if key.starts_with(PLUGIN_PREFIX) => Part::PluginHead,
            Naming::Lt => Part::Unknown,
            _ => Part::Backbone(format!("backbone.{key}")),
        }
    }

    /// The file's key for an lt-train variable (`backbone.conv1.weight` -> `conv1.weight`,
    /// `head.bias` -> `fc.bias`); other names unchanged.
    pub fn file_key(self, var: &str) -> String {
        if self == Naming::Lt {
            return var.to_string();
        }
        if let Some(field) = var.strip_prefix("head.") {
            return format!("{}{field}", self.head_prefix());
        }
        var.strip_prefix("backbone.").unwrap_or(var).to_string()
    }

    /// The BN counter key PyTorch keeps beside a BN layer's `running_var` (file naming).
    pub fn counter_key(running_var_key: &str) -> Option<String> {
        running_var_key
            .strip_suffix(".running_var")
            .map(|bn| format!("{bn}{COUNTER}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_both_ways() {
        let tv = Naming::detect(["conv1.weight", "fc.weight"]);
        assert_eq!(tv, Naming::Torchvision);
        assert_eq!(
            tv.classify("layer1.0.downsample.0.weight"),
            Part::Backbone("backbone.layer1.0.downsample.0.weight".into())
        );
        assert_eq!(tv.classify("fc.bias"), Part::Head("bias".into()));
        assert_eq!(tv.classify("bn1.num_batches_tracked"), Part::Ignored);
        assert_eq!(tv.file_key("head.weight"), "fc.weight");
        assert_eq!(tv.file_key("backbone.bn1.running_var"), "bn1.running_var");
        let c = Naming::detect(["conv1.weight", "linear.bias"]);
        assert_eq!(c, Naming::Cifar);
        assert_eq!(c.file_key("head.bias"), "linear.bias");
        assert_eq!(Naming::for_arch("resnet32b"), Naming::Cifar);
        assert_eq!(Naming::for_arch("resnet50"), Naming::Torchvision);
        let lt = Naming::detect(["backbone.conv1.weight"]);
        assert_eq!(lt.classify("head.weight"), Part::Head("weight".into()));
        assert_eq!(lt.classify("head_plugin.scale"), Part::PluginHead);
        assert_eq!(lt.classify("fc.weight"), Part::Unknown);
        assert_eq!(
            Naming::counter_key("layer1.0.bn1.running_var").as_deref(),
            Some("layer1.0.bn1.num_batches_tracked")
        );
    }
}
