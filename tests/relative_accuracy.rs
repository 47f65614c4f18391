//! Relative accuracy (Zhang et al., "Deep Long-Tailed Learning: A Survey"): the balanced
//! reference split `lt-data build --profile balanced` on the real Fashion-MNIST (as many images
//! as Fashion-MNIST-LT at imbalance 100, 14,886, so floor(14886 / 10) = 1488 a class, 6 left
//! out), refused when a class is short; `relative_accuracy` = 100 top-1 / max(top-1 of the
//! `--upper-from` runs) in metrics.json and from `lt-train eval`; unreadable upper runs and
//! impossible settings are one-line errors.
mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const NAME: &str = "relative_accuracy";

fn metrics(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap()
}

fn top1(run: &Path) -> f64 {
    metrics(run)["top1"].as_f64().unwrap()
}

/// Fashion-MNIST's balanced reference of its long-tailed split at imbalance 100, built once.
fn balanced() -> &'static Path {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let out = scratch(NAME).join("fmnist-balanced");
        let flags = ["--imbalance", "100", "--profile", "balanced"];
        stdout(&strs(&build_args(
            "fashion-mnist",
            Path::new(FASHION_MNIST),
            &out,
            &flags,
        )));
        out
    })
}

#[test]
fn the_balanced_profile_keeps_the_long_tailed_total() {
    let lt = manifest(dataset(NAME));
    let lt_counts = counts(&lt["splits"]["train"]["counts"]);
    assert_eq!(lt_counts.iter().sum::<u64>(), 14_886);
    let m = manifest(balanced());
    // floor(14886 / 10) = 1488 a class; 14886 - 14880 = 6 images of the total left out.
    assert_eq!(counts(&m["splits"]["train"]["counts"]), [1488; 10]);
    assert_eq!(m["splits"]["train"]["total"], 14_880);
    assert_eq!(
        (m["profile"].as_str(), m["imbalance"].as_f64()),
        (Some("balanced"), Some(100.0))
    );
    assert_eq!(
        m["balanced_reference"],
        serde_json::json!({"profile": "exp", "imbalance": 100.0, "long_tailed_total": 14886,
            "per_class": 1488, "left_out": 6})
    );
    // The test split is the same balanced one; the dataset passes every check.
    assert_eq!(m["splits"]["test"], lt["splits"]["test"]);
    stdout(&["verify", s(balanced())]);
    let inspected = json(&["inspect", "--json", s(balanced())]);
    assert_eq!(inspected["profile"], "balanced");
}

#[test]
fn a_class_short_of_the_balanced_count_is_refused() {
    // An MNIST-style source of 100 training images in classes 0-8 and 10 in class 9: the exp
    // split at imbalance 10 keeps int(100 * 0.1 ** (c / 9)) capped by what a class has,
    // [100, 77, 59, 46, 35, 27, 21, 16, 12, 10], N = 403, so n = 40 > 10.
    let dir = scratch_dir(NAME, "short");
    let src = dir.join("idx");
    std::fs::create_dir_all(&src).unwrap();
    let mut labels: Vec<u8> = (0..900).map(|i| (i % 9) as u8).collect();
    labels.extend([9; 10]);
    let n = labels.len() as u32;
    let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(
        src.join("train-images-idx3-ubyte"),
        idx(&[n, 4, 4], &pixels),
    )
    .unwrap();
    std::fs::write(src.join("train-labels-idx1-ubyte"), idx(&[n], &labels)).unwrap();
    let test: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    std::fs::write(
        src.join("t10k-images-idx3-ubyte"),
        idx(&[20, 4, 4], &[7; 320]),
    )
    .unwrap();
    std::fs::write(src.join("t10k-labels-idx1-ubyte"), idx(&[20], &test)).unwrap();
    let out = dir.join("balanced");
    let args = build_args(
        "mnist",
        &src,
        &out,
        &["--imbalance", "10", "--profile", "balanced"],
    );
    fails(
        &strs(&args),
        &[
            "--profile balanced: class 9 has 10 training images, fewer than the 40 every class \
           needs (the exp split at imbalance 10 holds 403 images: 40 a class over 10 classes)",
        ],
    );
    nothing_left(&dir, &out);

    // A recipe without a default imbalance (folder trees) needs --imbalance for a reference.
    for (class, seed) in [("a", 1), ("b", 2)] {
        write_jpeg(&dir.join("tree").join(class).join("0.jpg"), 8, 8, seed);
    }
    let args = build_args(
        "folder",
        &dir.join("tree"),
        &out,
        &["--profile", "balanced"],
    );
    fails(
        &strs(&args),
        &[
            "--profile balanced needs --imbalance (the long-tailed split it is the reference of); \
           'folder' has no default",
        ],
    );
    nothing_left(&dir, &out);
}

#[test]
fn relative_accuracy_is_against_the_best_upper_run() {
    let root = scratch(NAME);
    // A_v: vanilla CE on the balanced split; A_b: "the method" (CE + mixup) on it.
    let (ce, method) = (root.join("ce-balanced"), root.join("mixup-balanced"));
    assert_ok(&lt_train(&tiny(balanced(), &ce, 1)));
    assert_ok(&lt_train(&tiny_with(
        balanced(),
        &method,
        1,
        &["--set=stage1.mixup_alpha=1.0"],
    )));
    let upper = top1(&ce).max(top1(&method));
    // A_t: the method on the long-tailed split.
    let run = root.join("mixup-lt");
    let upper_from = format!("--upper-from={},{}", ce.display(), method.display());
    let o = lt_train(&tiny_with(
        dataset(NAME),
        &run,
        1,
        &["--set=stage1.mixup_alpha=1.0", &upper_from],
    ));
    assert_ok(&o);
    let m = metrics(&run);
    let want = 100.0 * m["top1"].as_f64().unwrap() / upper;
    let got = m["relative_accuracy"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} != {want}");
    assert_eq!(m["upper_top1"].as_f64(), Some(upper));
    assert_eq!(
        m["upper_from"][ce.display().to_string()].as_f64(),
        Some(top1(&ce))
    );
    assert_eq!(
        m["upper_from"][method.display().to_string()].as_f64(),
        Some(top1(&method))
    );
    assert_eq!(m["units"]["relative_accuracy"], "percent of upper_top1");
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(
        printed.contains(&format!("\nrelative accuracy {want:.2}\n")),
        "{printed}"
    );

    // `lt-train eval` reports it from the run's configuration, and writes it in --json.
    let ck = run.join("checkpoints/stage1-final.safetensors");
    let json_out = root.join("eval.json");
    let o = lt_train(&["eval", "--checkpoint", s(&ck), "--json", s(&json_out)]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("relative accuracy {want:.2} (")));
    let e: Value = serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(e["relative_accuracy"], m["relative_accuracy"]);
    // ... or against other runs given to it.
    let o = lt_train(&["eval", "--checkpoint", s(&ck), "--upper-from", s(&ce)]);
    assert_ok(&o);
    let against_ce = 100.0 * m["top1"].as_f64().unwrap() / top1(&ce);
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!(
        "relative accuracy {against_ce:.2} (top1 {:.2} / upper {:.2}, the best of {} {:.2})",
        m["top1"].as_f64().unwrap(),
        top1(&ce),
        ce.display(),
        top1(&ce)
    )));
}

#[test]
fn unreadable_upper_runs_and_impossible_settings_are_one_line_errors() {
    let root = scratch_dir(NAME, "errors");
    let run = root.join("run");
    let (nowhere, unfinished) = (root.join("nowhere"), root.join("unfinished"));
    std::fs::create_dir_all(unfinished.join("checkpoints")).unwrap();
    for (upper, why) in [
        (&nowhere, "no such run directory"),
        (
            &unfinished,
            "holds neither metrics.json (a finished run) nor summary.json (a finished --seeds \
             directory)",
        ),
    ] {
        let flag = format!("--upper-from={}", upper.display());
        let o = lt_train(&tiny_with(dataset(NAME), &run, 1, &[&flag]));
        assert_error_line(
            &o,
            &format!("lt-train: upper_from {}: {why}", upper.display()),
        );
    }
    assert!(!run.exists(), "a refused run wrote {}", run.display());
    for (sets, want) in [
        (
            &["--set=upper_top1=80.0", "--set=upper_from=[\"x\"]"][..],
            "lt-train: upper_top1 and upper_from: give one upper reference",
        ),
        (
            &["--set=upper_top1=80.0", "--set=eval_split=\"val\""],
            "lt-train: upper_top1/upper_from: relative accuracy is of the balanced test split, \
             but eval_split is 'val'",
        ),
    ] {
        assert_error_line(&lt_train(&tiny_with(dataset(NAME), &run, 1, sets)), want);
    }
}
