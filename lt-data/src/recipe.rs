//! Dataset recipes (`datasets/*.toml`, embedded at compile time): where a dataset's files come
//! from and the conventions papers use for it (profile, imbalance, normalisation, shot groups).

use crate::augment::Pipeline;
use crate::error::{Error, Result};
use crate::source::{RawLayout, SourceKind};
use crate::split::Profile;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    pub source: SourceKind,
    /// Source directory used when `--src` is not given.
    #[serde(default)]
    pub default_src: Option<PathBuf>,
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Default imbalance factor; `None` keeps the source's own (official list) distribution.
    #[serde(default)]
    pub imbalance: Option<f64>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub augment: Pipeline,
    pub model: String,
    #[serde(default)]
    pub max_side: Option<u32>,
    /// How many classes the dataset has: every label a source holds must be below it.
    /// Required, except for `folder` sources, whose class folders are the classes.
    #[serde(default)]
    pub num_classes: Option<usize>,
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    #[serde(default)]
    pub train_list: Option<PathBuf>,
    #[serde(default)]
    pub val_list: Option<PathBuf>,
    #[serde(default)]
    pub test_list: Option<PathBuf>,
    #[serde(default)]
    pub train_json: Option<PathBuf>,
    #[serde(default)]
    pub test_json: Option<PathBuf>,
    /// Where the images the lists name lie in the raw dataset as distributed (`ilsvrc2012`,
    /// `places365`, `inat2018`); the paths as written when absent.
    #[serde(default)]
    pub layout: RawLayout,
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
    let (_, text) = EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| crate::names::unknown(format!("unknown dataset '{name}'"), &names()))?;
    let recipe = parse(name, text)?;
    recipe.check()?;
    Ok(recipe)
}

/// Parses the TOML of recipe `name`; an error is one line naming the file and the line:
/// `recipe 'x' (datasets/x.toml, line 3): unknown source 'cifar' (known: cifar10, ...)`.
fn parse(name: &str, text: &str) -> Result<Recipe> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(", line {}", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        let msg = e.message().trim().replace('\n', " ");
        Error::invalid(format!(
            "recipe '{name}' (datasets/{name}.toml{line}): {msg}"
        ))
    })
}

impl Recipe {
    /// The declared class count agrees with the rest of the recipe.
    fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid(format!("recipe '{}': {msg}", self.name)));
        match (self.num_classes, self.source) {
            (None, SourceKind::Folder) => {}
            (None, _) => return bad("num_classes is required".into()),
            (Some(_), SourceKind::Folder) => {
                return bad("a folder source takes its classes from its folders".into())
            }
            (Some(0), _) => return bad("num_classes must be at least 1".into()),
            (Some(k), _) => {
                if let Some(names) = &self.class_names {
                    if names.len() != k {
                        return bad(format!("{} class_names for num_classes = {k}", names.len()));
                    }
                }
            }
        }
        let listed = matches!(self.source, SourceKind::List | SourceKind::Inat);
        if self.layout != RawLayout::AsListed && !listed {
            return bad(format!(
                "layout '{}' applies to list and inat sources only",
                self.layout.name()
            ));
        }
        Ok(())
    }

    /// The classes every label of the source must fall in, when the recipe declares them.
    pub fn classes(&self) -> Option<crate::source::Classes> {
        self.num_classes
            .map(|k| crate::source::Classes::new(k, format!("of {}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_embedded_recipes_parse() {
        for n in super::names() {
            let r = super::by_name(n).unwrap();
            assert_eq!(r.name, n);
            assert_eq!(r.mean.len(), r.std.len());
            assert_eq!(
                r.num_classes.is_none(),
                r.source == SourceKind::Folder,
                "{n}"
            );
        }
        let k = |n| super::by_name(n).unwrap().num_classes;
        assert_eq!(
            [
                "cifar10",
                "cifar100",
                "mnist",
                "fashion-mnist",
                "imagenet-lt",
                "places-lt",
                "inat2018"
            ]
            .map(k),
            [10, 100, 10, 10, 1000, 365, 8142].map(Some)
        );
    }

    #[test]
    fn class_count_must_agree_with_names() {
        let load = |extra: &str, source: &str| {
            let text = format!(
                "name = \"x\"\nsource = \"{source}\"\nmean = [0.5]\nstd = [0.5]\n\
                 augment = \"cifar\"\nmodel = \"resnet32\"\n{extra}"
            );
            parse("x", &text)
                .and_then(|r| r.check())
                .map_err(|e| e.to_string())
        };
        assert!(load("num_classes = 2\nclass_names = [\"a\", \"b\"]", "idx").is_ok());
        let e = load("num_classes = 3\nclass_names = [\"a\", \"b\"]", "idx").unwrap_err();
        assert!(e.contains("2 class_names for num_classes = 3"), "{e}");
        let e = load("", "list").unwrap_err();
        assert!(e.contains("recipe 'x': num_classes is required"), "{e}");
        assert!(load("num_classes = 0", "list").is_err());
        assert!(load("", "folder").is_ok());
        assert!(load("num_classes = 4", "folder").is_err());
        assert!(load("num_classes = 4\nlayout = \"ilsvrc2012\"", "list").is_ok());
        let e = load("num_classes = 4\nlayout = \"ilsvrc2012\"", "idx").unwrap_err();
        assert!(
            e.contains("layout 'ilsvrc2012' applies to list and inat sources only"),
            "{e}"
        );
        let e = load("num_classes = 4\nlayout = \"imagenet\"", "list").unwrap_err();
        assert!(e.contains("line 8") && e.contains("imagenet"), "{e}");
        // An unknown source is one line naming the file, the line and the known sources.
        let e = load("num_classes = 4", "cifar").unwrap_err();
        assert_eq!(
            e,
            "recipe 'x' (datasets/x.toml, line 2): unknown source 'cifar' \
             (known: cifar10, cifar100, idx, list, inat, folder)"
        );
    }
}
