//! JPEG trees through the real binaries: `lt-data build --store jpeg` writes JPEGs of the
//! stored size with a restart marker after every MCU (what lets the loader decode only a crop's
//! MCUs), `--time-stages` prints the profile of every stage on both `build` and `bench`, and
//! the loader reads the result with the ImageNet pipeline.

mod common;

use common::{build_args, fails, ok, run, s, scratch_dir, strs, write_jpeg};
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
