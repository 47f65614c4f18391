//! Where the images an official split list names lie in a raw dataset as it is distributed.
//!
//! The ImageNet-LT, Places-LT and iNaturalist lists name each image by one path relative to the
//! image root, but the official archives extract into layouts that match those paths only in
//! part: ILSVRC2012's validation images come in one flat folder, Places365's training archives
//! have a letter level and sub-category folders, and iNaturalist users point at
//! `train_val2018` itself as often as at the folder above it. Each dataset's layouts are one
//! enum here, one variant per rule, each rule rewriting a list path into a path under the root;
//! [`RawLayout::candidates`] lists them in the order `resolve` tries them, and the first that
//! is a file is the image.

use serde::{Deserialize, Serialize};

/// The raw dataset a recipe's lists point into (`layout = "..."` in `datasets/*.toml`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawLayout {
    /// The list paths as written, under the root, and nowhere else (recipes without `layout`).
    #[default]
    #[serde(rename = "as-listed")]
    AsListed,
    /// ILSVRC2012, the images of ImageNet-LT: the rules of [`Ilsvrc2012`].
    #[serde(rename = "ilsvrc2012")]
    Ilsvrc2012,
    /// Places365-Standard, the images of Places-LT: the rules of [`Places365`].
    #[serde(rename = "places365")]
    Places365,
    /// iNaturalist 2018: the rules of [`Inat2018`].
    #[serde(rename = "inat2018")]
    Inat2018,
}

/// One rule of a dataset's layouts: where it puts a list path.
pub trait Rule: Copy + 'static {
    /// Every rule of the layout, in the order they are tried, with the name the build report
    /// gives it (`class folders`, `flat val/`).
    const ALL: &'static [(Self, &'static str)];
    /// The path under the root where this rule expects the image a list names as `listed`;
    /// `None` when the rule does not apply to such a path.
    fn path(self, listed: &str) -> Option<String>;
}

impl RawLayout {
    /// The spelling recipes use.
    pub fn name(self) -> &'static str {
        match self {
            RawLayout::AsListed => "as-listed",
            RawLayout::Ilsvrc2012 => "ilsvrc2012",
            RawLayout::Places365 => "places365",
            RawLayout::Inat2018 => "inat2018",
        }
    }

    /// (rule name, path under the root) of every place the image listed as `listed` may be, in
    /// the order they are tried, each path once.
    pub fn candidates(self, listed: &str) -> Vec<(&'static str, String)> {
        match self {
            RawLayout::AsListed => vec![("as listed", listed.to_string())],
            RawLayout::Ilsvrc2012 => candidates::<Ilsvrc2012>(listed),
            RawLayout::Places365 => candidates::<Places365>(listed),
            RawLayout::Inat2018 => candidates::<Inat2018>(listed),
        }
    }
}

fn candidates<R: Rule>(listed: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (rule, name) in R::ALL {
        if let Some(p) = rule.path(listed) {
            if !out.iter().any(|(_, q)| *q == p) {
                out.push((name, p));
            }
        }
    }
    out
}

/// ILSVRC2012 as distributed (`ILSVRC2012_img_train.tar`, `ILSVRC2012_img_val.tar`), the root
/// holding `train/` and `val/`. ImageNet-LT's lists name training images
/// `train/n01440764/n01440764_10026.JPEG` and validation images (its test split)
/// `val/n01440764/ILSVRC2012_val_00029930.JPEG`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ilsvrc2012 {
    /// The class folders the lists name: `train/n01440764/n01440764_10026.JPEG` (each class
    /// archive of ILSVRC2012_img_train.tar extracted into its folder), and
    /// `val/n01440764/ILSVRC2012_val_00029930.JPEG` for validation images re-sorted into
    /// class folders.
    ClassFolders,
    /// ILSVRC2012_img_val.tar extracted as it comes, every validation image in one folder: the
    /// list's `val/n01440764/ILSVRC2012_val_00029930.JPEG` is
    /// `val/ILSVRC2012_val_00029930.JPEG`.
    FlatVal,
}

impl Rule for Ilsvrc2012 {
    const ALL: &'static [(Self, &'static str)] = &[
        (Ilsvrc2012::ClassFolders, "class folders"),
        (Ilsvrc2012::FlatVal, "flat val/"),
    ];

    fn path(self, listed: &str) -> Option<String> {
        match self {
            Ilsvrc2012::ClassFolders => Some(listed.to_string()),
            Ilsvrc2012::FlatVal => {
                let (_wnid, file) = listed.strip_prefix("val/")?.split_once('/')?;
                (!file.contains('/')).then(|| format!("val/{file}"))
            }
        }
    }
}

/// Places365-Standard as distributed. Places-LT's lists name training images
/// `train/airfield/00004851.jpg` and validation images (its test split)
/// `val/airfield/Places365_val_00003597.jpg`, the spelling of the "easy format" archive, in
/// which a sub-category is joined to its category by `-` (`train/apartment_building-outdoor/`);
/// lists in the letter-level spelling (`data_256/a/airfield/00004851.jpg`) are read too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Places365 {
    /// places365standard_easyformat.tar (its `places365_standard/` folder is the root): class
    /// folders without the letter level, `train/airfield/00004851.jpg`,
    /// `train/apartment_building-outdoor/00000001.jpg` and
    /// `val/airfield/Places365_val_00003597.jpg`.
    EasyFormat,
    /// train_256_places365standard.tar, the 256x256 training images: a letter level and
    /// sub-categories one folder deeper, `data_256/a/airfield/00004851.jpg`,
    /// `data_256/a/apartment_building/outdoor/00000001.jpg`.
    Train256,
    /// train_large_places365standard.tar, the full-size training images:
    /// `data_large/a/airfield/00004851.jpg`, `data_large/a/apartment_building/outdoor/00000001.jpg`.
    TrainLarge,
    /// val_256.tar, the 256x256 validation images in one flat folder:
    /// `val_256/Places365_val_00003597.jpg`.
    Val256,
    /// val_large.tar, the full-size validation images in one flat folder:
    /// `val_large/Places365_val_00003597.jpg`.
    ValLarge,
}

/// A Places365 list path taken apart.
struct PlacesImage<'a> {
    /// From the validation set (`val/`, `val_256/`, `val_large/`).
    val: bool,
    /// The class in the easy format's spelling (`apartment_building-outdoor`); unknown for a
    /// path in a flat validation folder.
    class: Option<String>,
    file: &'a str,
}

impl<'a> PlacesImage<'a> {
    /// Reads `train/C/F`, `val/C/F`, `data_256/L/C[/SUB]/F`, `data_large/L/C[/SUB]/F`,
    /// `val_256/F` and `val_large/F`.
    fn parse(listed: &'a str) -> Option<Self> {
        let parts: Vec<&'a str> = listed.split('/').collect();
        let image = |val, class: Option<String>, file| Some(PlacesImage { val, class, file });
        match parts.as_slice() {
            ["train", class, file] => image(false, Some(class.to_string()), file),
            ["val", class, file] => image(true, Some(class.to_string()), file),
            ["data_256" | "data_large", letter, class @ .., file]
                if letter.len() == 1 && matches!(class.len(), 1 | 2) =>
            {
                image(false, Some(class.join("-")), file)
            }
            ["val_256" | "val_large", file] => image(true, None, file),
            _ => None,
        }
    }

    /// `DIR/a/apartment_building/outdoor/FILE` for a training image of a known class.
    fn lettered(&self, dir: &str) -> Option<String> {
        let class = self.class.as_deref().filter(|_| !self.val)?;
        let letter = class.chars().next()?;
        Some(format!(
            "{dir}/{letter}/{}/{}",
            class.replacen('-', "/", 1),
            self.file
        ))
    }

    /// `DIR/FILE` for a validation image.
    fn flat(&self, dir: &str) -> Option<String> {
        self.val.then(|| format!("{dir}/{}", self.file))
    }
}

impl Rule for Places365 {
    const ALL: &'static [(Self, &'static str)] = &[
        (Places365::EasyFormat, "train/ and val/ class folders"),
        (Places365::Train256, "data_256/"),
        (Places365::TrainLarge, "data_large/"),
        (Places365::Val256, "flat val_256/"),
        (Places365::ValLarge, "flat val_large/"),
    ];

    fn path(self, listed: &str) -> Option<String> {
        let Some(img) = PlacesImage::parse(listed) else {
            // Not a Places365 path: only the path as written can hold it.
            return (self == Places365::EasyFormat).then(|| listed.to_string());
        };
        match self {
            Places365::EasyFormat => {
                let set = if img.val { "val" } else { "train" };
                Some(format!("{set}/{}/{}", img.class?, img.file))
            }
            Places365::Train256 => img.lettered("data_256"),
            Places365::TrainLarge => img.lettered("data_large"),
            Places365::Val256 => img.flat("val_256"),
            Places365::ValLarge => img.flat("val_large"),
        }
    }
}

/// iNaturalist 2018 as distributed: train_val2018.tar.gz extracts into `train_val2018/`, and
/// the lists and JSON files name images `train_val2018/Plantae/7291/9f8ecb39e5f767e39e9b28e34488f179.jpg`
/// (`train_val2018/<supercategory>/<category id>/<file>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inat2018 {
    /// The root is the folder holding `train_val2018/`: the paths as the lists give them,
    /// `train_val2018/Plantae/7291/9f8ecb39e5f767e39e9b28e34488f179.jpg`.
    AboveTrainVal,
    /// The root is `train_val2018/` itself: `Plantae/7291/9f8ecb39e5f767e39e9b28e34488f179.jpg`.
    AtTrainVal,
}

impl Rule for Inat2018 {
    const ALL: &'static [(Self, &'static str)] = &[
        (Inat2018::AboveTrainVal, "train_val2018/ under the root"),
        (Inat2018::AtTrainVal, "the root is train_val2018/"),
    ];

    fn path(self, listed: &str) -> Option<String> {
        match self {
            Inat2018::AboveTrainVal => Some(listed.to_string()),
            Inat2018::AtTrainVal => listed.strip_prefix("train_val2018/").map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(layout: RawLayout, listed: &str) -> Vec<String> {
        layout
            .candidates(listed)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    #[test]
    fn ilsvrc2012_val_is_class_folders_or_flat() {
        let l = RawLayout::Ilsvrc2012;
        assert_eq!(
            paths(l, "train/n01440764/n01440764_10026.JPEG"),
            ["train/n01440764/n01440764_10026.JPEG"]
        );
        assert_eq!(
            paths(l, "val/n01440764/ILSVRC2012_val_00029930.JPEG"),
            [
                "val/n01440764/ILSVRC2012_val_00029930.JPEG",
                "val/ILSVRC2012_val_00029930.JPEG"
            ]
        );
        // Already flat in the list: one place.
        assert_eq!(
            paths(l, "val/ILSVRC2012_val_00029930.JPEG"),
            ["val/ILSVRC2012_val_00029930.JPEG"]
        );
        assert_eq!(
            l.candidates("val/n01440764/ILSVRC2012_val_00029930.JPEG")[1].0,
            "flat val/"
        );
    }

    #[test]
    fn places365_easy_format_letter_level_and_flat_val() {
        let l = RawLayout::Places365;
        assert_eq!(
            paths(l, "train/airfield/00004851.jpg"),
            [
                "train/airfield/00004851.jpg",
                "data_256/a/airfield/00004851.jpg",
                "data_large/a/airfield/00004851.jpg"
            ]
        );
        assert_eq!(
            paths(l, "train/apartment_building-outdoor/00000001.jpg"),
            [
                "train/apartment_building-outdoor/00000001.jpg",
                "data_256/a/apartment_building/outdoor/00000001.jpg",
                "data_large/a/apartment_building/outdoor/00000001.jpg"
            ]
        );
        assert_eq!(
            paths(l, "val/airfield/Places365_val_00003597.jpg"),
            [
                "val/airfield/Places365_val_00003597.jpg",
                "val_256/Places365_val_00003597.jpg",
                "val_large/Places365_val_00003597.jpg"
            ]
        );
        // A list in the letter-level spelling finds the easy format too.
        assert_eq!(
            paths(l, "data_256/a/apartment_building/outdoor/00000001.jpg"),
            [
                "train/apartment_building-outdoor/00000001.jpg",
                "data_256/a/apartment_building/outdoor/00000001.jpg",
                "data_large/a/apartment_building/outdoor/00000001.jpg"
            ]
        );
        assert_eq!(
            paths(l, "val_256/Places365_val_00003597.jpg"),
            [
                "val_256/Places365_val_00003597.jpg",
                "val_large/Places365_val_00003597.jpg"
            ]
        );
        // Anything else only as written.
        assert_eq!(paths(l, "misc/a/b/c/d.jpg"), ["misc/a/b/c/d.jpg"]);
    }

    #[test]
    fn inat2018_root_above_or_at_train_val2018() {
        let l = RawLayout::Inat2018;
        let listed = "train_val2018/Plantae/7291/9f8ecb39e5f767e39e9b28e34488f179.jpg";
        assert_eq!(
            paths(l, listed),
            [listed, "Plantae/7291/9f8ecb39e5f767e39e9b28e34488f179.jpg"]
        );
        assert_eq!(paths(l, "Plantae/1/x.jpg"), ["Plantae/1/x.jpg"]);
        assert_eq!(
            paths(RawLayout::AsListed, listed),
            [listed],
            "no layout: as written"
        );
    }

    #[test]
    fn every_real_list_line_has_a_place_in_each_layout() {
        let splits = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/splits");
        // (list, layout, the rule names every one of its lines gets)
        let cases: [(&str, RawLayout, &[&str]); 6] = [
            (
                "ImageNet_LT_val.txt",
                RawLayout::Ilsvrc2012,
                &["class folders"],
            ),
            (
                "ImageNet_LT_test.txt",
                RawLayout::Ilsvrc2012,
                &["class folders", "flat val/"],
            ),
            (
                "Places_LT_train.txt",
                RawLayout::Places365,
                &["train/ and val/ class folders", "data_256/", "data_large/"],
            ),
            (
                "Places_LT_val.txt",
                RawLayout::Places365,
                &["train/ and val/ class folders", "data_256/", "data_large/"],
            ),
            (
                "Places_LT_test.txt",
                RawLayout::Places365,
                &[
                    "train/ and val/ class folders",
                    "flat val_256/",
                    "flat val_large/",
                ],
            ),
            (
                "iNaturalist18_val.txt",
                RawLayout::Inat2018,
                &[
                    "train_val2018/ under the root",
                    "the root is train_val2018/",
                ],
            ),
        ];
        for (list, layout, rules) in cases {
            let entries = crate::source::listfile::parse(&splits.join(list)).unwrap();
            for (rel, _) in &entries {
                let got: Vec<&str> = layout.candidates(rel).iter().map(|c| c.0).collect();
                assert_eq!(got, rules, "{list}: {rel}");
            }
        }
    }

    #[test]
    fn recipes_spell_layouts_by_name() {
        for l in [
            RawLayout::AsListed,
            RawLayout::Ilsvrc2012,
            RawLayout::Places365,
            RawLayout::Inat2018,
        ] {
            assert_eq!(
                serde_json::to_string(&l).unwrap(),
                format!("\"{}\"", l.name())
            );
        }
    }
}
