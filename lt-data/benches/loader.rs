//! Loader benchmark: this crate's loader against torch's DataLoader on the same split files.
//!
//! `cargo bench -p lt-data --bench loader` writes, in a temporary directory, a raw split of
//! CIFAR-10-LT's size (12,406 32x32x3 images, imbalance 100) and a JPEG split at ImageNet-like
//! size (2,000 images of about 400x350), then times, each in its own process so peak RSS is
//! its own: our loader (batch 128, one thread per core) and benches/loader_torch.py (torch
//! DataLoader, batch 128, one worker per core, torchvision transforms), and prints both
//! figures, their ratio and peak RSS.
//!
//! Environment: LT_BENCH_PYTHON (default: the workspace's .venv/bin/python, else python3),
//! LT_BENCH_CIFAR_EPOCHS (default 4), LT_BENCH_JPEG_EPOCHS (default 1), LT_BENCH_JPEG_N (2000),
//! LT_BENCH_ROUNDS (default 2: the two loaders alternate, best of each is kept).

mod common;

use common::{env_usize, python};
use lt_data::bench::{run, BenchOptions};
use lt_data::format::{Encoding, Layout, Writer};
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;

/// xorshift noise so images are not trivially compressible.
fn noise(seed: u64) -> impl FnMut() -> u8 {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 56) as u8
    }
}

fn write_cifar_lt(path: &Path) {
    let counts: Vec<usize> = (0..10)
        .map(|c| (5000.0 * 0.01f64.powf(c as f64 / 9.0)) as usize)
        .collect();
    let mut w = Writer::create(
        path,
        Layout::Raw {
            height: 32,
            width: 32,
            channels: 3,
        },
        10,
    )
    .unwrap();
    for (c, &n) in counts.iter().enumerate() {
        for i in 0..n {
            let mut r = noise((c * 100_000 + i) as u64);
            let px: Vec<u8> = (0..3072)
                .map(|j| ((j / 3 % 32) as u8 * 4).wrapping_add(r() / 4))
                .collect();
            w.push(c as u32, &px).unwrap();
        }
    }
    w.finish().unwrap();
}

fn write_jpegs(path: &Path, n: usize) {
    let encoded: Vec<Vec<u8>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let (w, h) = (350 + (i * 37 % 100) as u32, 300 + (i * 53 % 100) as u32);
            let mut r = noise(i as u64 + 7);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let t = r() / 8;
                image::Rgb([
                    (x * 255 / w) as u8 ^ t,
                    (y * 255 / h) as u8 ^ t,
                    ((x + y + i as u32) % 256) as u8,
                ])
            });
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(&img)
                .unwrap();
            out
        })
        .collect();
    let mut w = Writer::create(path, Layout::Encoded(Encoding::Jpeg), 100).unwrap();
    for (i, b) in encoded.iter().enumerate() {
        w.push((i % 100) as u32, b).unwrap();
    }
    w.finish().unwrap();
}

/// Figures from a child's output: (images/s, peak RSS bytes).
struct Figures {
    ips: f64,
    rss: u64,
}

fn parse(out: &str) -> Figures {
    let field = |key: &str| {
        out.lines()
            .rev()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    Figures {
        ips: field("images/s ")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
        rss: field("peak_rss_bytes ")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

fn run_child(mut cmd: Command, what: &str) -> Figures {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        panic!(
            "{what} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for l in text.lines() {
        println!("    {l}");
    }
    parse(&text)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    // Child mode: time our loader alone in a fresh process (clean peak RSS).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let opts = BenchOptions {
            path: args[i + 1].clone().into(),
            aug: args[i + 2].clone(),
            batch: args[i + 3].parse().unwrap(),
            threads: args[i + 4].parse().unwrap(),
            epochs: args[i + 5].parse().unwrap(),
            time_stages: false,
        };
        let r = run(&opts).unwrap_or_else(|e| panic!("lt-data bench: {e}"));
        println!("peak_rss_bytes {}", r.peak_rss_bytes);
        println!("{r}");
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let batch = 128;
    let dir = tempfile::tempdir().unwrap();
    let cifar = dir.path().join("cifar10lt.ltd");
    let jpeg = dir.path().join("jpeg.ltd");
    let t = std::time::Instant::now();
    write_cifar_lt(&cifar);
    write_jpegs(&jpeg, env_usize("LT_BENCH_JPEG_N", 2000));
    println!(
        "wrote datasets in {:.1} s under {}",
        t.elapsed().as_secs_f64(),
        dir.path().display()
    );

    let cases = [
        (
            "raw CIFAR-10-LT 32x32 (cifar aug)",
            &cifar,
            "cifar",
            env_usize("LT_BENCH_CIFAR_EPOCHS", 4),
        ),
        (
            "JPEG ~400x350 -> 224 (imagenet aug)",
            &jpeg,
            "imagenet",
            env_usize("LT_BENCH_JPEG_EPOCHS", 1),
        ),
    ];
    // Rounds alternate the two loaders and keep each one's best, so a burst of load from
    // elsewhere on the machine does not decide the ratio.
    let rounds = env_usize("LT_BENCH_ROUNDS", 2).max(1);
    let best = |a: Option<Figures>, b: Figures| match a {
        Some(a) if a.ips >= b.ips => Figures {
            ips: a.ips,
            rss: a.rss.max(b.rss),
        },
        Some(a) => Figures {
            ips: b.ips,
            rss: a.rss.max(b.rss),
        },
        None => b,
    };
    let mut rows = Vec::new();
    for (name, path, aug, epochs) in cases {
        let (mut ours_best, mut torch_best) = (None, None);
        for round in 1..=rounds {
            println!("== {name}: batch {batch}, {cores} threads/workers, {epochs} epochs, round {round}/{rounds}");
            println!("  lt-data loader:");
            let mut ours = Command::new(std::env::current_exe().unwrap());
            ours.arg("--child")
                .arg(path)
                .arg(aug)
                .arg(batch.to_string())
                .arg(cores.to_string());
            ours.arg(epochs.to_string());
            ours_best = Some(best(ours_best, run_child(ours, "lt-data loader")));
            println!("  torch DataLoader:");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/loader_torch.py");
            let mut torch = Command::new(python());
            torch
                .arg(script)
                .arg(path)
                .args(["--aug", aug, "--batch", &batch.to_string()]);
            torch.args([
                "--workers",
                &cores.to_string(),
                "--epochs",
                &epochs.to_string(),
            ]);
            torch_best = Some(best(
                torch_best,
                run_child(torch, "benches/loader_torch.py"),
            ));
        }
        rows.push((name, ours_best.unwrap(), torch_best.unwrap()));
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!();
    println!(
        "best of {rounds} rounds; load average at the end: {}",
        load_average()
    );
    println!(
        "{:<38} {:>12} {:>12} {:>7} {:>13} {:>13}",
        "case", "lt-data im/s", "torch im/s", "ratio", "lt-data RSS", "torch RSS"
    );
    for (name, a, b) in rows {
        println!(
            "{:<38} {:>12.0} {:>12.0} {:>6.1}x {:>9.1} MiB {:>9.1} MiB",
            name,
            a.ips,
            b.ips,
            a.ips / b.ips,
            mib(a.rss),
            mib(b.rss)
        );
    }
}
