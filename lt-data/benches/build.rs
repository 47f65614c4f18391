//! Build benchmark: `lt-data build` (the library's `builder::build`, as the CLI calls it)
//! against benches/build_pil.py doing the same work with numpy, PIL and multiprocessing.Pool
//! on the same number of cores, both writing the same split files.
//!
//! `cargo bench -p lt-data --bench build` times, best of LT_BENCH_BUILD_REPS (default 3):
//!   (a) raw IDX: the real Fashion-MNIST (/usr/share/datasets/fashion-mnist), imbalance 1 so
//!       all 70,000 images (60,000 train + 10,000 test) are parsed, selected and written raw;
//!   (b) a JPEG class-per-folder tree generated here: LT_BENCH_BUILD_JPEG_N (default 2,000)
//!       images of about 500x375, each a real Fashion-MNIST image upscaled (bilinear),
//!       tinted per class over a soft gradient with a little noise, saved as JPEG q90;
//!       built with decode + resize to max side 256 + re-encode JPEG q90.
//!
//! and prints images/s for both sides and their ratio. Environment: LT_BENCH_PYTHON (default:
//! the workspace's .venv/bin/python, else python3).

mod common;

use common::{env_usize, python};
use lt_data::builder::{build, BuildOptions, Store};
use lt_data::format::Reader;
use lt_data::source::{idx, Pixels};
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Writes the JPEG tree; returns the number of images.
fn write_tree(root: &Path, n: usize) -> usize {
    let src = idx::read(Path::new(FMNIST)).unwrap_or_else(|e| panic!("{e}"));
    let tints: [[f32; 3]; 10] = [
        [1.0, 0.4, 0.3],
        [0.3, 0.8, 1.0],
        [0.9, 0.9, 0.3],
        [0.5, 1.0, 0.5],
        [1.0, 0.6, 0.9],
        [0.6, 0.5, 1.0],
        [1.0, 0.8, 0.6],
        [0.4, 1.0, 0.9],
        [0.8, 0.7, 0.5],
        [0.7, 0.7, 0.7],
    ];
    for c in 0..10 {
        std::fs::create_dir_all(root.join(format!("class{c}"))).unwrap();
    }
    (0..n).into_par_iter().for_each(|i| {
        let s = &src.train[i];
        let Pixels::Raw { data, .. } = &s.pixels else {
            unreachable!("IDX samples are raw")
        };
        let small = image::GrayImage::from_raw(28, 28, data.clone()).unwrap();
        let (w, h) = (460 + (i * 37 % 90) as u32, 340 + (i * 53 % 70) as u32);
        // Bilinear upscale of the 28x28 item to h x h, inline: cheap for a setup step.
        let up = |x: u32, y: u32| -> f32 {
            let f = |v: u32| ((v as f32 + 0.5) * 28.0 / h as f32 - 0.5).clamp(0.0, 27.0);
            let (fx, fy) = (f(x), f(y));
            let (x0, y0) = (fx as u32, fy as u32);
            let (x1, y1) = ((x0 + 1).min(27), (y0 + 1).min(27));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            let p = |x, y| small.get_pixel(x, y)[0] as f32;
            (p(x0, y0) * (1.0 - ax) + p(x1, y0) * ax) * (1.0 - ay)
                + (p(x0, y1) * (1.0 - ax) + p(x1, y1) * ax) * ay
        };
        let tint = tints[s.label as usize];
        let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let x0 = (w - h) / 2;
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 60) as f32 - 8.0;
            let fg = if x >= x0 && x < x0 + h {
                up(x - x0, y)
            } else {
                0.0
            };
            let bg = 40.0 + 60.0 * (x as f32 / w as f32) + 40.0 * (y as f32 / h as f32);
            let px = |t: f32| (bg * (1.0 - fg / 255.0) + fg * t + noise).clamp(0.0, 255.0) as u8;
            image::Rgb([px(tint[0]), px(tint[1]), px(tint[2])])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&img)
            .unwrap();
        std::fs::write(
            root.join(format!("class{}", s.label))
                .join(format!("{i:05}.jpg")),
            out,
        )
        .unwrap();
    });
    n
}

/// Best time of `reps` runs of `f`, which returns the number of images it processed.
fn best(reps: usize, mut f: impl FnMut() -> usize) -> (usize, f64) {
    let mut t_best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..reps {
        let t = Instant::now();
        n = f();
        t_best = t_best.min(t.elapsed().as_secs_f64());
    }
    (n, t_best)
}

fn python_side(args: &[&str]) -> f64 {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/build_pil.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python().display()));
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "build_pil.py {args:?} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find_map(|l| l.strip_prefix("seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("seconds line")
}

/// Both sides wrote the same split: sample counts, labels and (for raw) bytes agree.
fn same_output(ours: &Path, theirs: &Path, raw: bool) {
    let (a, b) = (Reader::open(ours).unwrap(), Reader::open(theirs).unwrap());
    b.verify_checksum()
        .unwrap_or_else(|e| panic!("Python output: {e}"));
    assert_eq!(
        a.counts(),
        b.counts(),
        "{} vs {}",
        ours.display(),
        theirs.display()
    );
    assert_eq!(a.labels(), b.labels());
    if raw {
        assert_eq!(a.data().len(), b.data().len());
    } else {
        let (x, y) = (
            image::load_from_memory(a.sample(0)).unwrap(),
            image::load_from_memory(b.sample(0)).unwrap(),
        );
        assert_eq!((x.width(), x.height()), (y.width(), y.height()));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let cores = rayon::current_num_threads();
    let reps = env_usize("LT_BENCH_BUILD_REPS", 3);
    let n_jpeg = env_usize("LT_BENCH_BUILD_JPEG_N", 2000);
    let dir = tempfile::tempdir().unwrap();
    let workers = cores.to_string();
    println!("build benchmark: {cores} cores (rayon threads = Pool workers), best of {reps}");

    // (a) raw IDX.
    let out = dir.path().join("fmnist");
    let (n, t_rust) = best(reps, || {
        let opts = BuildOptions {
            imbalance: Some(1.0),
            ..BuildOptions::new("fashion-mnist", &out)
        };
        let m = build(&opts).unwrap_or_else(|e| panic!("{e}")).manifest;
        m.splits.values().map(|s| s.total).sum()
    });
    let py_out = dir.path().join("fmnist-py");
    let t_py = (0..reps)
        .map(|_| {
            python_side(&[
                "idx",
                FMNIST,
                py_out.to_str().unwrap(),
                "--workers",
                &workers,
                "--imbalance",
                "1",
            ])
        })
        .fold(f64::INFINITY, f64::min);
    same_output(&out.join("train.ltd"), &py_out.join("train.ltd"), true);
    same_output(&out.join("test.ltd"), &py_out.join("test.ltd"), true);
    let idx_line = report(
        &format!("raw IDX, Fashion-MNIST, {n} images (imbalance 1, raw 28x28x1)"),
        n,
        t_rust,
        t_py,
    );

    // (b) JPEG tree.
    let tree = dir.path().join("tree");
    let t = Instant::now();
    let n = write_tree(&tree, n_jpeg);
    println!(
        "wrote {n} JPEGs of ~500x375 in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let out = dir.path().join("tree-ltd");
    let (n, t_rust) = best(reps, || {
        let opts = BuildOptions {
            src: Some(tree.clone()),
            max_side: Some(256),
            store: Some(Store::Jpeg),
            quality: 90,
            ..BuildOptions::new("folder", &out)
        };
        build(&opts)
            .unwrap_or_else(|e| panic!("{e}"))
            .manifest
            .splits["train"]
            .total
    });
    let py_out = dir.path().join("tree-py");
    let t_py = (0..reps)
        .map(|_| {
            python_side(&[
                "folder",
                tree.to_str().unwrap(),
                py_out.to_str().unwrap(),
                "--workers",
                &workers,
                "--max-side",
                "256",
                "--quality",
                "90",
            ])
        })
        .fold(f64::INFINITY, f64::min);
    same_output(&out.join("train.ltd"), &py_out.join("train.ltd"), false);
    let jpeg_line = report(
        &format!("JPEG tree, {n} images ~500x375 -> max side 256, JPEG q90"),
        n,
        t_rust,
        t_py,
    );

    println!("\nsummary");
    println!("{idx_line}");
    println!("{jpeg_line}");
}

fn report(what: &str, n: usize, t_rust: f64, t_py: f64) -> String {
    let (r, p) = (n as f64 / t_rust, n as f64 / t_py);
    let line = format!("{what}: lt-data {r:.0} images/s ({t_rust:.3} s), Python+PIL {p:.0} images/s ({t_py:.3} s), ratio {:.2}x", r / p);
    println!("{line}");
    line
}
