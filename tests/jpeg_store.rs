//! JPEG trees through the real binaries: `lt-data build --store jpeg` writes JPEGs of the
//! stored size with a restart marker after every MCU (what lets the loader decode only a crop's
//! MCUs), `--time-stages` prints the profile of every stage on both `build` and `bench`, and
//! the loader reads the result with the ImageNet pipeline.

mod common;

use common::{build_args, ok, run, s, scratch_dir, strs, write_jpeg};
use lt_data::format::Reader;
use lt_data::image::restart::Index;
use lt_data::image::turbo;

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

#[test]
fn stored_jpegs_carry_restart_markers_and_both_commands_profile_their_stages() {
    let dir = scratch_dir(NAME, "tree");
    // 3 classes of 4 images, 150x110 (stored with the longer side 64: a resize each).
    for c in 0..3 {
        for i in 0..4 {
            write_jpeg(&dir.join(format!("src/c{c}/{i}.jpg")), 150, 110, c * 4 + i);
        }
    }
    let out = dir.join("ltd");
    let args = build_args(
        "folder",
        &dir.join("src"),
        &out,
        &[
            "--store",
            "jpeg",
            "--max-side",
            "64",
            "--imbalance",
            "1",
            "--time-stages",
        ],
    );
    let built = run(&strs(&args));
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

    let bench = run(&[
        "bench",
        s(&out),
        "--aug",
        "imagenet",
        "--batch",
        "4",
        "--threads",
        "2",
        "--time-stages",
    ]);
    let text = ok(&bench, "lt-data bench --time-stages") + &String::from_utf8_lossy(&bench.stdout);
    let stages = stage_calls(&text);
    let names: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["read", "decode", "augment"], "{text}");
    assert!(stages.iter().all(|(_, calls)| *calls > 0), "{text}");
    assert!(text.lines().any(|l| l.starts_with("images/s ")), "{text}");
}
