//! Dataset recipes (`datasets/*.toml`, embedded at compile time): where a dataset's files come
//! from and the conventions papers use for it (profile, imbalance, normalisation, shot groups).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How classes are put in the many/medium/few-shot groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum GroupRule {
    /// The standard rule (Liu et al., OLTR): many > `many_above`, few < `few_below` training images.
    Count { many_above: u32, few_below: u32 },
    /// Class-index ranges `[start, end)`, as CIFAR-10 results are usually reported.
    Index {
        many: [usize; 2],
        medium: [usize; 2],
        few: [usize; 2],
    },
}

impl Default for GroupRule {
    fn default() -> Self {
        GroupRule::Count {
            many_above: 100,
            few_below: 20,
        }
    }
}

/// Shot group of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Many,
    Medium,
    Few,
}

impl GroupRule {
    /// The group of every class, given its number of training images.
    ///
    /// ```
    /// use lt_data::recipe::{Group, GroupRule};
    /// let g = GroupRule::default().assign(&[500, 100, 20, 19]);
    /// assert_eq!(g, [Group::Many, Group::Medium, Group::Medium, Group::Few]);
    /// ```
    pub fn assign(&self, train_counts: &[u32]) -> Vec<Group> {
        train_counts
            .iter()
            .enumerate()
            .map(|(c, &n)| match self {
                GroupRule::Count {
                    many_above,
                    few_below,
                } => {
                    if n > *many_above {
                        Group::Many
                    } else if n < *few_below {
                        Group::Few
                    } else {
                        Group::Medium
                    }
                }
                GroupRule::Index { many, medium, .. } => {
                    if (many[0]..many[1]).contains(&c) {
                        Group::Many
                    } else if (medium[0]..medium[1]).contains(&c) {
                        Group::Medium
                    } else {
                        Group::Few
                    }
                }
            })
            .collect()
    }
}

/// A dataset recipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    /// Reader: cifar10, cifar100, idx, list, inat, folder.
    pub source: String,
    /// Source directory used when `--src` is not given.
    #[serde(default)]
    pub default_src: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    /// Default imbalance factor; `None` keeps the source's own (official list) distribution.
    #[serde(default)]
    pub imbalance: Option<f64>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub augment: String,
    pub model: String,
    #[serde(default)]
    pub max_side: Option<u32>,
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    #[serde(default)]
    pub train_list: Option<String>,
    #[serde(default)]
    pub val_list: Option<String>,
    #[serde(default)]
    pub test_list: Option<String>,
    #[serde(default)]
    pub train_json: Option<String>,
    #[serde(default)]
    pub test_json: Option<String>,
    #[serde(default)]
    pub groups: GroupRule,
}

const EMBEDDED: &[(&str, &str)] = &[
    ("cifar10", include_str!("../../datasets/cifar10.toml")),
    ("cifar100", include_str!("../../datasets/cifar100.toml")),
    ("mnist", include_str!("../../datasets/mnist.toml")),
    (
        "fashion-mnist",
        include_str!("../../datasets/fashion-mnist.toml"),
    ),
    (
        "imagenet-lt",
        include_str!("../../datasets/imagenet-lt.toml"),
    ),
    ("places-lt", include_str!("../../datasets/places-lt.toml")),
    ("inat2018", include_str!("../../datasets/inat2018.toml")),
    ("folder", include_str!("../../datasets/folder.toml")),
];

/// Names of the built-in recipes.
pub fn names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(n, _)| *n).collect()
}

/// The built-in recipe called `name`.
///
/// ```
/// let r = lt_data::recipe::by_name("cifar10").unwrap();
/// assert_eq!(r.imbalance, Some(100.0));
/// assert!(lt_data::recipe::by_name("cifar11").is_err());
/// ```
pub fn by_name(name: &str) -> Result<Recipe> {
    let (_, text) = EMBEDDED.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        Error::invalid(format!(
            "unknown dataset '{name}' (known: {})",
            names().join(", ")
        ))
    })?;
    toml::from_str(text).map_err(|e| Error::invalid(format!("recipe '{name}': {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn all_embedded_recipes_parse() {
        for n in super::names() {
            let r = super::by_name(n).unwrap();
            assert_eq!(r.name, n);
            assert_eq!(r.mean.len(), r.std.len());
        }
    }
}
