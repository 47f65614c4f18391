//! Run directories through the real binary: a fresh run records its configuration; a non-empty
//! directory is continued only with `--resume` and the same configuration; `--resume` on
//! nothing starts fresh; a resumed run logs each epoch once; a dataset is never a run directory.
mod common;
use common::*;
use std::path::Path;

const NAME: &str = "run_dir";

fn jsonl_epochs(run: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["stage"].as_u64().unwrap(), v["epoch"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn a_fresh_run_records_its_config_and_a_used_dir_needs_resume() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("fresh");
    let args = tiny(data, &run, 1);
    assert_ok(&lt_train(&args));
    let mut print = args.clone();
    print.push("--print-config".into());
    let printed = lt_train(&print);
    assert_ok(&printed);
    let recorded = std::fs::read_to_string(run.join("config.toml")).expect("RUN/config.toml");
    assert_eq!(recorded, String::from_utf8_lossy(&printed.stdout));

    // Another configuration into the same directory without --resume: refused, nothing touched.
    let ck = run.join("checkpoints/stage1-last.safetensors");
    let before = std::fs::read(&ck).unwrap();
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let out = lt_train(&tiny_with(data, &run, 1, &["--set=stage1.lr=0.5"]));
    assert_error_line(
        &out,
        &format!(
            "lt-train: {}: not empty (holds config.toml, metrics.csv, metrics.json, \
             metrics.jsonl, per_class.png, reliability.png and 1 more); continue it with \
             --resume or choose another --out",
            run.display()
        ),
    );
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl")).unwrap(),
        log
    );
}

#[test]
fn resume_with_another_config_names_the_differing_keys() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("differ");
    assert_ok(&lt_train(&tiny(data, &run, 1)));
    let out = lt_train(&tiny_with(
        data,
        &run,
        1,
        &[
            "--resume",
            "--set=stage1.lr=0.5",
            "--set=stage1.loss_config.gamma=2",
        ],
    ));
    assert_error_line(
        &out,
        &format!(
            "lt-train: {}: the run was made with other values of stage1.loss_config.gamma, \
             stage1.lr; resume with them (only threads, loader_threads, device, dist_timeout, \
             out, eval_every, sync_every may change) or choose another --out",
            run.join("config.toml").display()
        ),
    );
    // Keys that do not change the result may differ.
    let mut same = tiny_with(data, &run, 1, &["--resume", "--eval-every=5"]);
    for a in &mut same {
        if a == "--threads=1" {
            *a = "--threads=2".into();
        } else if a == "--set=loader_threads=1" {
            *a = "--set=loader_threads=2".into();
        }
    }
    assert_ok(&lt_train(&same));
}

#[test]
fn resume_on_a_missing_or_empty_dir_starts_fresh() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("requeued");
    std::fs::create_dir_all(&run).unwrap();
    let err = assert_ok(&lt_train(&tiny_with(data, &run, 1, &["--resume"])));
    assert!(
        err.starts_with(&format!(
            "{}: nothing to resume (missing or empty); starting a fresh run\n",
            run.display()
        )),
        "{err}"
    );
    assert!(run.join("config.toml").is_file());
    assert!(run.join("checkpoints/stage1-final.safetensors").is_file());
}

#[test]
fn resume_logs_each_epoch_once() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("killed");
    let out = lt_train(&tiny_with(data, &run, 3, &["--stop-after=2"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.ends_with("\nlt-train: stopped after 2 epochs as asked (--stop-after)\n"),
        "{err}"
    );
    assert_eq!(jsonl_epochs(&run), [(1, 1), (1, 2)]);
    // Killed after logging epoch 3, before its checkpoint (and mid-way through a line).
    let log = run.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"stage\":1,\"epoch\":3,\"train_loss\":1.0}\n{\"stage\":1,\"ep");
    std::fs::write(&log, text).unwrap();
    let err = assert_ok(&lt_train(&tiny_with(data, &run, 3, &["--resume", "-q"])));
    assert!(err.contains("resuming stage 1 at epoch 2\n"), "{err}");
    assert_eq!(jsonl_epochs(&run), [(1, 1), (1, 2), (1, 3)]);
}

#[test]
fn a_dataset_dir_is_not_a_run_dir() {
    let data = dataset(NAME);
    for extra in [&[][..], &["--resume"][..]] {
        let out = lt_train(&tiny_with(data, data, 1, extra));
        assert_error_line(
            &out,
            &format!(
                "lt-train: {}: is a dataset directory (holds lt-data's manifest.json); \
                 choose another --out",
                data.display()
            ),
        );
    }
    assert!(!data.join("checkpoints").exists());
    assert!(!data.join("config.toml").exists());
}
