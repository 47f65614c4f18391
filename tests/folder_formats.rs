//! Class-per-folder trees in every image format the folder source reads (BMP, lossless WebP,
//! PPM, PGM, PNM, next to JPEG and PNG), through the real `lt-data build`: stored raw, each
//! sample's pixels are exactly the pixels written; a file of any other kind (`.tiff`) is refused
//! by name before anything is decoded.

mod common;

use common::{build_args, fails, manifest, nothing_left, ok, run, scratch_dir, strs};
use image::{DynamicImage, GrayImage, RgbImage};
use lt_data::format::Reader;
use std::collections::BTreeSet;
use std::path::Path;

const NAME: &str = "folder_formats";
const W: u32 = 20;
const H: u32 = 12;

/// A `W` x `H` image whose pixels differ with `seed`, grey or RGB.
fn picture(seed: u32, grey: bool) -> DynamicImage {
    let rgb = RgbImage::from_fn(W, H, |x, y| {
        image::Rgb([
            (x * 13 + seed * 7) as u8,
            (y * 17 + seed * 3) as u8,
            ((x ^ y) * 5 + seed * 11) as u8,
        ])
    });
    match grey {
        true => DynamicImage::ImageLuma8(GrayImage::from_fn(W, H, |x, y| {
            image::Luma([rgb.get_pixel(x, y)[0] ^ rgb.get_pixel(x, y)[1]])
        })),
        false => DynamicImage::ImageRgb8(rgb),
    }
}

/// Writes `class/NAME.EXT` files under `root/split` (the format from the extension; lossless
/// ones only), returning the RGB pixels each class must hold.
fn write_class(root: &Path, class: &str, files: &[(&str, bool)], seed: u32) -> BTreeSet<Vec<u8>> {
    let dir = root.join(class);
    std::fs::create_dir_all(&dir).unwrap();
    let mut want = BTreeSet::new();
    for (i, (ext, grey)) in files.iter().enumerate() {
        let img = picture(seed + i as u32, *grey);
        let path = dir.join(format!("{i}.{ext}"));
        let format = image::ImageFormat::from_extension(ext.to_lowercase()).unwrap();
        img.save_with_format(&path, format).unwrap();
        want.insert(img.to_rgb8().into_raw());
    }
    want
}

/// The stored samples of one split, grouped by label.
fn stored(path: &Path, k: usize) -> Vec<BTreeSet<Vec<u8>>> {
    let r = Reader::open(path).unwrap();
    let mut by_class = vec![BTreeSet::new(); k];
    for i in 0..r.len() {
        by_class[r.labels()[i] as usize].insert(r.sample(i).to_vec());
    }
    by_class
}

#[test]
fn bmp_webp_and_pnm_trees_build_with_exact_pixels() {
    let dir = scratch_dir(NAME, "formats");
    let classes: [(&str, &[(&str, bool)]); 3] = [
        (
            "bitmaps",
            &[
                ("bmp", false),
                ("BMP", false),
                ("bmp", true),
                ("png", false),
            ],
        ),
        (
            "netpbm",
            &[("ppm", false), ("pgm", true), ("pnm", false), ("ppm", true)],
        ),
        (
            "webps",
            &[
                ("webp", false),
                ("webp", true),
                ("WebP", false),
                ("webp", false),
            ],
        ),
    ];
    let mut want = Vec::new();
    for split in ["train", "test"] {
        let seed = if split == "train" { 0 } else { 100 };
        let per: Vec<_> = classes
            .iter()
            .enumerate()
            .map(|(c, (name, files))| {
                write_class(
                    &dir.join("tree").join(split),
                    name,
                    files,
                    seed + 10 * c as u32,
                )
            })
            .collect();
        want.push(per);
    }
    let out = dir.join("out");
    let args = build_args(
        "folder",
        &dir.join("tree"),
        &out,
        &["--store", "raw", "--imbalance", "1"],
    );
    ok(&run(&strs(&args)), "lt-data build of a bmp/webp/pnm tree");
    let m = manifest(&out);
    assert_eq!(
        m["class_names"],
        serde_json::json!(["bitmaps", "netpbm", "webps"])
    );
    assert_eq!(m["splits"]["train"]["shape"], serde_json::json!([H, W, 3]));
    for (split, want) in ["train", "test"].iter().zip(&want) {
        let got = stored(&out.join(format!("{split}.ltd")), 3);
        for (c, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.len(), 4, "{split} class {c}: {} samples", g.len());
            assert!(
                g == w,
                "{split} class {c}: stored pixels differ from the written ones"
            );
        }
    }
}

#[test]
fn other_files_are_refused_up_front() {
    let dir = scratch_dir(NAME, "tiff");
    let root = dir.join("tree");
    write_class(&root, "a", &[("bmp", false), ("webp", false)], 0);
    write_class(&root, "b", &[("ppm", false), ("pgm", true)], 5);
    // A broken image in the first class: it would fail mid-build, the .tiff is found first.
    std::fs::write(root.join("a/2.bmp"), b"BM not really").unwrap();
    std::fs::write(root.join("b/scan.tiff"), b"II*\0").unwrap();
    let out = dir.join("out");
    let args = build_args("folder", &root, &out, &["--store", "raw"]);
    let tiff = root.join("b/scan.tiff");
    fails(
        &strs(&args),
        &[&format!(
            "{}: not a supported image file (extensions: jpg, jpeg, png, bmp, webp, ppm, pgm, pbm, pnm)",
            tiff.display()
        )],
    );
    nothing_left(&dir, &out);
    // Without it the broken bitmap is the error, named, as before.
    std::fs::remove_file(&tiff).unwrap();
    fails(&strs(&args), &["a/2.bmp: cannot decode image"]);
    nothing_left(&dir, &out);
}
