//! JPEG trees through the real binaries: `lt-data build --store jpeg` writes JPEGs of the
//! stored size with a restart marker after every MCU (what lets the loader decode only a crop's
//! MCUs), `--time-stages` prints the profile of every stage on both `build` and `bench`, and
//! the loader reads the result with the ImageNet pipeline; sources of every chroma subsampling
//! (and grey) store what PIL's decode and bilinear resize give, to a documented tolerance.

mod common;

use common::{build_args, fails, ok, python_script, run, s, scratch_dir, strs, write_jpeg};
use lt_data::format::Reader;
use lt_data::image::restart::Index;
use lt_data::image::turbo;
use std::path::PathBuf;
use std::process::Output;

const NAME: &str = "jpeg_store";

/// The stage lines of a `--time-stages` report in `text`: the name of each stage with calls.
fn stage_calls(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let calls = f.get(3)?.parse().ok()?;
            (f.len() == 5 && f[2].ends_with('%')).then(|| (f[0].to_string(), calls))
        })
        .collect()
}

/// `lt-data build --store jpeg --imbalance 1` plus `extra` over a tree of `classes` folders of
/// 4 JPEGs of 150x110, under this test file's scratch folder `sub`: the output folder and the
/// run.
fn build_tree(sub: &str, classes: u32, extra: &[&str]) -> (PathBuf, Output) {
    let dir = scratch_dir(NAME, sub);
    for c in 0..classes {
        for i in 0..4 {
            write_jpeg(&dir.join(format!("src/c{c}/{i}.jpg")), 150, 110, c * 4 + i);
        }
    }
    let out = dir.join("ltd");
    let mut flags = vec!["--store", "jpeg", "--imbalance", "1"];
    flags.extend_from_slice(extra);
    let built = run(&strs(&build_args("folder", &dir.join("src"), &out, &flags)));
    (out, built)
}

/// `lt-data bench` of the dataset `out` with the ImageNet pipeline, batch 4, 2 threads.
fn bench_args(out: &std::path::Path) -> Vec<&str> {
    let mut v = vec!["bench", s(out), "--aug", "imagenet", "--batch", "4"];
    v.extend(["--threads", "2"]);
    v
}

#[test]
fn stored_jpegs_carry_restart_markers_and_both_commands_profile_their_stages() {
    // 3 classes of 4 images, 150x110 (stored with the longer side 64: a resize each).
    let (out, built) = build_tree("tree", 3, &["--max-side", "64", "--time-stages"]);
    let text = ok(&built, "lt-data build --time-stages") + &String::from_utf8_lossy(&built.stdout);
    let stages: Vec<String> = stage_calls(&text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        stages,
        ["read", "decode", "resize", "encode", "write"],
        "{text}"
    );

    let train = Reader::open(&out.join("train.ltd")).unwrap();
    assert!(!train.is_empty());
    let mut index = Index::default();
    for i in 0..train.len() {
        let jpeg = train.sample(i);
        let hd = turbo::header(jpeg).unwrap();
        assert_eq!((hd.width, hd.height), (64, 47), "sample {i}");
        assert!(
            index.build(jpeg).is_some(),
            "sample {i}: no restart marker per MCU"
        );
        assert_eq!((index.mcus_x, index.mcus_y), (4, 3));
    }

    let mut args = bench_args(&out);
    args.push("--time-stages");
    let bench = run(&args);
    let text = ok(&bench, "lt-data bench --time-stages") + &String::from_utf8_lossy(&bench.stdout);
    let stages = stage_calls(&text);
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["read", "decode", "augment"], "{text}");
    assert!(stages.iter().all(|(_, calls)| *calls > 0), "{text}");
    assert!(text.lines().any(|l| l.starts_with("images/s ")), "{text}");
}

/// Where stored sample `i` of the split `path` lies in its file.
fn sample_range(path: &std::path::Path, i: usize) -> std::ops::Range<usize> {
    let file = std::fs::read(path).unwrap();
    let r = Reader::open(path).unwrap();
    let sample = r.sample(i);
    let at = file
        .windows(sample.len())
        .position(|w| w == sample)
        .expect("the sample's bytes are in its file");
    at..at + sample.len()
}

#[test]
fn damaged_stored_jpegs_fail_on_one_line_or_decode_leniently() {
    let (out, built) = build_tree("damaged", 2, &[]);
    ok(&built, "lt-data build");
    let train = out.join("train.ltd");
    let good = std::fs::read(&train).unwrap();
    let at = sample_range(&train, 5);
    let bench = bench_args(&out);

    // A stored JPEG whose headers are gone after SOI: one line naming the file and the sample.
    let mut bytes = good.clone();
    bytes[at.start + 2..at.start + 40].fill(0);
    std::fs::write(&train, &bytes).unwrap();
    fails(&bench, &["train.ltd", "sample 5", "JPEG"]);

    // A restart marker turned into a stray byte: no longer indexable, so the loader decodes it
    // as a plain JPEG, leniently (damaged MCUs come out grey, as PIL does), and runs on.
    let mut bytes = good.clone();
    let sample = &good[at.clone()];
    let rst = (sample.len() / 2..sample.len() - 2)
        .find(|&k| sample[k] == 0xFF && (0xD0..=0xD7).contains(&sample[k + 1]))
        .expect("a restart marker in the second half");
    bytes[at.start + rst + 1] = 0x42;
    std::fs::write(&train, &bytes).unwrap();
    assert!(Index::default().build(&bytes[at.clone()]).is_none());
    ok(&run(&bench), "lt-data bench on a damaged entropy segment");
    std::fs::write(&train, &good).unwrap();
}

/// PIL writes one 300x200 photo-like JPEG a class in 4:4:4, 4:2:2, 4:2:0 (the planar path: the
/// planes resized, never RGB) and grey (the RGB path), and the reference: its own decode
/// resized with `Image.BILINEAR` to the stored 128x85, raw RGB.
const PIL_SOURCES: &str = r#"
import os, sys
import numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(5)
yy, xx = np.mgrid[0:200, 0:300].astype(np.float32)
for i, (name, sub) in enumerate([("s444", 0), ("s422", 1), ("s420", 2), ("grey", -1)]):
    rgb = np.stack([40 + 150 * xx / 300, 30 + 180 * yy / 200, 90 + 60 * np.sin(xx / 9 + yy / 13)], -1)
    rgb += 40 * (((xx // 17 + yy // 11 + i) % 2) - 0.5)[..., None] + rng.normal(0, 6, rgb.shape)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    os.makedirs(f"{root}/src/{name}")
    path = f"{root}/src/{name}/0.jpg"
    if sub < 0:
        img.convert("L").save(path, quality=92)
    else:
        img.save(path, quality=92, subsampling=sub)
    ref = Image.open(path).convert("RGB").resize((128, 85), Image.BILINEAR)
    open(f"{root}/{name}.rgb", "wb").write(ref.tobytes())
"#;

#[test]
fn every_chroma_subsampling_stores_what_pil_decodes_and_resizes() {
    let dir = scratch_dir(NAME, "subsampling");
    python_script(PIL_SOURCES, &[&dir]);
    let out = dir.join("ltd");
    let flags = ["--store", "jpeg", "--imbalance", "1", "--max-side", "128"];
    let built = run(&strs(&build_args("folder", &dir.join("src"), &out, &flags)));
    ok(&built, "lt-data build of PIL's JPEGs");
    let r = Reader::open(&out.join("train.ltd")).unwrap();
    assert_eq!(r.len(), 4);
    // Classes in name order: grey, s420, s422, s444.
    for (i, name) in ["grey", "s420", "s422", "s444"].into_iter().enumerate() {
        let label = r.labels().iter().position(|&l| l as usize == i).unwrap();
        let stored = image::load_from_memory(r.sample(label)).unwrap().to_rgb8();
        assert_eq!(stored.dimensions(), (128, 85), "{name}");
        let want = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        let d: Vec<u8> = stored
            .as_raw()
            .iter()
            .zip(&want)
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let mean = d.iter().map(|&x| x as f64).sum::<f64>() / d.len() as f64;
        let max = *d.iter().max().unwrap();
        eprintln!("{name}: mean {mean:.2}, max {max}");
        // Measured (mean / max): grey 2.31 / 13, 4:2:0 3.03 / 19, 4:2:2 3.08 / 22, 4:4:4
        // 3.14 / 20; through RGB (before the planar path) 2.31, 2.93, 3.08, 3.09. Most of it is
        // re-encoding a noisy image at quality 90, and the 1/2-scale decode.
        assert!(
            mean <= 4.0 && max <= 48,
            "{name}: mean {mean:.2}, max {max}"
        );
    }
}

/// A truncated source JPEG on the plane path (YCbCr, shrunk, stored as JPEG) is a one-line error
/// naming the file, and no output is left behind.
#[test]
fn a_truncated_source_on_the_plane_path_is_a_one_line_error() {
    let (out, built) = build_tree("truncated", 2, &["--max-side", "64"]);
    ok(&built, "lt-data build of the whole tree");
    let src = out.parent().unwrap().join("src");
    let cut = src.join("c1/2.jpg");
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let again = out.parent().unwrap().join("ltd-cut");
    let flags = ["--store", "jpeg", "--imbalance", "1", "--max-side", "64"];
    fails(
        &strs(&build_args("folder", &src, &again, &flags)),
        &["2.jpg: cannot decode image: corrupt JPEG"],
    );
    assert!(!again.join("train.ltd").exists());
}
