//! `lt-train --seeds` through the real binary on the real Fashion-MNIST-LT: each seed a run
//! directory `OUT/seed-S` trained by its own child process (two at a time with `--jobs 2`),
//! `OUT/summary.json` with the mean, sample standard deviation, min, max and n of every metric
//! of the runs; an interrupted sweep resumes, a finished seed is not trained again, a failed
//! seed fails the sweep after the others with a one-line error and no summary, and bad
//! `--seeds`, flags or directories are one-line errors with nothing run.
mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const NAME: &str = "seeds";

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn seed_dir(out: &Path, seed: u64) -> PathBuf {
    out.join(format!("seed-{seed}"))
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

/// (stage, epoch) of every line of a run's metrics.jsonl.
fn epochs(run: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["stage"].as_u64().unwrap(), v["epoch"].as_u64().unwrap())
        })
        .collect()
}

/// A tiny two-seed sweep of `epochs` epochs into `out`, two jobs, plus `extra`.
fn sweep(data: &Path, out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    tiny_with(
        data,
        out,
        epochs,
        &[&["--seeds=0,1", "--jobs=2"], extra].concat(),
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn two_seeds_with_two_jobs_summarise_their_runs() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("two");
    let o = lt_train(&sweep(data, &out, 1, &[]));
    assert_ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(
        last[0],
        format!(
            "wrote {} and {}",
            out.join("summary.json").display(),
            out.join("summary.md").display()
        )
    );
    assert!(
        last[1].starts_with("top1 ") && last[1].ends_with("  (2 seeds)"),
        "{stdout}"
    );

    // Each seed a run of its own, with its seed and directory recorded.
    let runs: Vec<Value> = [0, 1]
        .map(|s| json(&seed_dir(&out, s).join("metrics.json")))
        .into();
    for s in [0u64, 1] {
        let cfg: toml::Table = toml::from_str(
            &std::fs::read_to_string(seed_dir(&out, s).join("config.toml")).unwrap(),
        )
        .unwrap();
        assert_eq!(cfg["seed"].as_integer(), Some(s as i64));
        assert_eq!(
            cfg["out"].as_str(),
            Some(seed_dir(&out, s).to_str().unwrap())
        );
    }
    assert_ne!(runs[0]["nll"], runs[1]["nll"], "two seeds, one model");
    // Two jobs: each seed started (config.toml) before the other finished (metrics.json).
    let started = |s| mtime(&seed_dir(&out, s).join("config.toml"));
    let ended = |s| mtime(&seed_dir(&out, s).join("metrics.json"));
    assert!(
        started(0) < ended(1) && started(1) < ended(0),
        "the seeds ran one after the other"
    );

    // The summary, computed here from the two runs: statistics.stdev([a, b]) = |a - b| / sqrt(2).
    let sum = json(&out.join("summary.json"));
    assert_eq!(sum["seeds"], serde_json::json!([0, 1]));
    assert_eq!(sum["runs"], serde_json::json!(["seed-0", "seed-1"]));
    // Every numeric field of metrics.json but the image count (top1, top5, many, medium, few,
    // ece, mce, nll, best_top1 here).
    let numeric = |v: &Value| -> Vec<String> {
        let o = v.as_object().unwrap();
        o.iter()
            .filter(|(k, x)| x.is_number() && *k != "count")
            .map(|(k, _)| k.clone())
            .collect()
    };
    let keys = numeric(&runs[0]);
    assert_eq!(keys.len(), 9, "{keys:?}");
    let summarised: Vec<String> = sum["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(summarised, keys);
    for key in &keys {
        let (a, b) = (
            runs[0][key].as_f64().unwrap(),
            runs[1][key].as_f64().unwrap(),
        );
        let s = &sum["metrics"][key];
        assert!(
            close(s["mean"].as_f64().unwrap(), (a + b) / 2.0),
            "{key}: {s}"
        );
        let std = (a - b).abs() / 2f64.sqrt();
        assert!(close(s["std"].as_f64().unwrap(), std), "{key}: {s}");
        assert_eq!(s["min"].as_f64(), Some(a.min(b)), "{key}");
        assert_eq!(s["max"].as_f64(), Some(a.max(b)), "{key}");
        assert_eq!(s["n"], 2, "{key}");
        assert_eq!(s["values"], serde_json::json!([a, b]), "{key}");
    }
    assert!(sum["metrics"].get("count").is_none());
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let m = &sum["metrics"]["top1"];
    let row = format!(
        "| top1 | {:.2} ± {:.2} | {:.2} | {:.2} | 2 |",
        m["mean"].as_f64().unwrap(),
        m["std"].as_f64().unwrap(),
        m["min"].as_f64().unwrap(),
        m["max"].as_f64().unwrap()
    );
    assert!(md.contains(&row), "{row} not in {md}");

    // A sweep directory is an upper reference of relative accuracy: its mean top-1.
    let ck = seed_dir(&out, 0).join("checkpoints/stage1-final.safetensors");
    let o = lt_train(&["eval", "--checkpoint", s(&ck), "--upper-from", s(&out)]);
    assert_ok(&o);
    let mean = m["mean"].as_f64().unwrap();
    let top1 = runs[0]["top1"].as_f64().unwrap();
    let want = format!(
        "relative accuracy {:.2} (top1 {top1:.2} / upper {mean:.2}, the best of {} {mean:.2})",
        100.0 * top1 / mean,
        out.display()
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains(&want), "{want}");
}

#[test]
fn a_stage2_sweep_starts_each_seed_from_the_stage1_of_its_seed() {
    let data = dataset(NAME);
    let s1 = scratch(NAME).join("paired-s1");
    assert_ok(&lt_train(&sweep(data, &s1, 1, &[])));
    let s2 = scratch(NAME).join("paired-crt");
    let init = format!(
        "init_checkpoint=\"{}\"",
        s1.join("seed-{seed}/checkpoints/stage1-final.safetensors")
            .display()
    );
    let o = lt_train(&sweep(
        data,
        &s2,
        1,
        &[
            "--set",
            "stage2.epochs=1",
            "--set",
            "stage2.head=linear",
            "--set",
            &init,
        ],
    ));
    assert_ok(&o);
    for s in [0u64, 1] {
        let cfg: toml::Table =
            toml::from_str(&std::fs::read_to_string(seed_dir(&s2, s).join("config.toml")).unwrap())
                .unwrap();
        let want = seed_dir(&s1, s).join("checkpoints/stage1-final.safetensors");
        assert_eq!(cfg["init_checkpoint"].as_str(), want.to_str());
        // Stage 2 only: stage 1 came from that seed's own run.
        assert_eq!(epochs(&seed_dir(&s2, s)), vec![(2, 1)]);
    }
    assert!(s2.join("summary.json").is_file());
    // Without --seeds the placeholder is a path like any other: a missing file, named.
    let one = scratch(NAME).join("paired-one");
    let o = lt_train(&tiny_with(
        data,
        &one,
        1,
        &["--set", "stage2.epochs=1", "--set", &init],
    ));
    failed_line(&o, &["seed-{seed}"]);
}

#[test]
fn an_interrupted_sweep_resumes_and_finished_seeds_are_not_trained_again() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("resume");
    let o = lt_train(&sweep(data, &out, 2, &["--stop-after=1"]));
    failed_line(
        &o,
        &[&format!(
            "lt-train: seed 0 failed (run directory {}): stopped after 1 epochs as asked \
             (--stop-after); seed 1 failed too",
            seed_dir(&out, 0).display()
        )],
    );
    assert!(!out.join("summary.json").exists());
    for s in [0, 1] {
        assert_eq!(epochs(&seed_dir(&out, s)), [(1, 1)]);
    }

    // Again: both continue from their checkpoints to the end.
    let err = assert_ok(&lt_train(&sweep(data, &out, 2, &[])));
    for s in [0, 1] {
        assert!(
            err.contains(&format!("[seed {s}] resuming stage 1 at epoch 1\n")),
            "{err}"
        );
        assert_eq!(epochs(&seed_dir(&out, s)), [(1, 1), (1, 2)]);
    }
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();

    // Once more: nothing trains, nothing of the runs changes, the summary is the same.
    let files = |s| {
        let d = seed_dir(&out, s);
        [
            d.join("metrics.json"),
            d.join("checkpoints/stage1-final.safetensors"),
        ]
    };
    let before: Vec<SystemTime> = [0, 1]
        .iter()
        .flat_map(|&s| files(s))
        .map(|f| mtime(&f))
        .collect();
    let err = assert_ok(&lt_train(&sweep(data, &out, 2, &[])));
    for s in [0, 1] {
        let m = seed_dir(&out, s).join("metrics.json");
        assert!(
            err.contains(&format!("seed {s}: complete ({}), skipped\n", m.display())),
            "{err}"
        );
    }
    assert!(!err.contains("[seed "), "a seed ran: {err}");
    let after: Vec<SystemTime> = [0, 1]
        .iter()
        .flat_map(|&s| files(s))
        .map(|f| mtime(&f))
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        std::fs::read_to_string(out.join("summary.json")).unwrap(),
        summary
    );

    // Other flags: refused before anything runs, naming the seed and the key; nothing touched.
    let o = lt_train(&sweep(data, &out, 2, &["--set=stage1.lr=0.5"]));
    assert_error_line(
        &o,
        &format!(
            "lt-train: seed 0 ({}): {}: the run was made with other values of stage1.lr; resume \
             with them (only threads, loader_threads, device, dist_timeout, out, eval_every, \
             sync_every may change) or choose another --out",
            seed_dir(&out, 0).display(),
            seed_dir(&out, 0).join("config.toml").display()
        ),
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.json")).unwrap(),
        summary
    );
}

#[test]
fn a_failed_seed_fails_the_sweep_after_the_others_finish() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("failed");
    failed_line(
        &lt_train(&sweep(data, &out, 2, &["--stop-after=1"])),
        &["stopped"],
    );
    // Seed 1's checkpoint torn (a disk filled up while it was written, say).
    let ck = seed_dir(&out, 1).join("checkpoints/stage1-last.safetensors");
    std::fs::write(&ck, b"not a checkpoint").unwrap();
    let o = lt_train(&sweep(data, &out, 2, &[]));
    let line = failed_line(
        &o,
        &[
            &format!(
                "lt-train: seed 1 failed (run directory {}): ",
                seed_dir(&out, 1).display()
            ),
            &ck.display().to_string(),
        ],
    );
    assert!(!line.contains("failed too"), "{line}");
    // Seed 0 finished; no summary claims seed 1.
    assert_eq!(epochs(&seed_dir(&out, 0)), [(1, 1), (1, 2)]);
    assert!(seed_dir(&out, 0).join("metrics.json").is_file());
    assert!(!seed_dir(&out, 1).join("metrics.json").exists());
    assert!(!out.join("summary.json").exists() && !out.join("summary.md").exists());
}

#[test]
fn bad_seeds_flags_and_directories_are_one_line_errors() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("bad");
    for (extra, needles) in [
        (
            &["--seeds=0,x"][..],
            &["--seeds '0,x': 'x' is not a seed (a whole number"][..],
        ),
        (&["--seeds=2-1"], &["the range '2-1' is empty"]),
        (&["--seeds=0,1,0"], &["seed 0 is given twice"]),
        (&["--seeds="], &["an empty seed"]),
        (
            &["--seeds=0,1", "--seed=3"],
            &["the argument '--seeds <SEEDS>' cannot be used with '--seed <SEED>'"],
        ),
        (&["--jobs=2"], &["--seeds <SEEDS>"]),
        (
            &["--seeds=0", "--jobs=0"],
            &["invalid value '0' for '--jobs <N>'"],
        ),
        (&["--seeds=0", "--print-config"], &["cannot be used with"]),
    ] {
        let o = lt_train(&tiny_with(data, &out, 1, extra));
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{extra:?}: {}", stderr(&o));
        failed_line(&o, needles);
    }
    assert!(!out.exists());

    // Under torchrun every rank would run the whole sweep.
    let o = lt_train_cmd()
        .args(tiny_with(data, &out, 1, &["--seeds=0,1"]))
        .envs([
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "127.0.0.1"),
        ])
        .output()
        .unwrap();
    assert_error_line(
        &o,
        "lt-train: --seeds under a distributed launch (rank 1 of 2): every rank would run the \
         whole sweep; start lt-train --seeds once, without torchrun or srun",
    );
    assert!(!out.exists());

    // A directory holding what a sweep does not write is refused, and left as it is.
    std::fs::create_dir_all(out.join("seed-0")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let o = lt_train(&tiny_with(data, &out, 1, &["--seeds=0,1"]));
    assert_error_line(
        &o,
        &format!(
            "lt-train: {}: not a --seeds directory (holds notes.txt); choose another --out",
            out.display()
        ),
    );
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );

    // An upper reference that is not there stops the sweep before any seed runs.
    let fresh = scratch(NAME).join("no-upper");
    let nowhere = scratch(NAME).join("nowhere");
    let o = lt_train(&tiny_with(
        data,
        &fresh,
        1,
        &[
            "--seeds=0,1",
            &format!("--upper-from={}", nowhere.display()),
        ],
    ));
    assert_error_line(
        &o,
        &format!(
            "lt-train: seed 0 ({}): upper_from {}: no such run directory",
            seed_dir(&fresh, 0).display(),
            nowhere.display()
        ),
    );
    assert!(!fresh.exists());
}
