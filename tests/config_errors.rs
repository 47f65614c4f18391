//! Configuration and I/O errors through the real binary: every layer is type-checked even when
//! a later one overrides the value; batch sizes that cannot train are refused before a run
//! starts; an OS error's message is printed once.
mod common;
use common::*;

const NAME: &str = "config_errors";

#[test]
fn a_wrongly_typed_value_is_an_error_even_when_overridden() {
    let data = dataset(NAME);
    let dir = scratch(NAME);
    let file = dir.join("thirty.toml");
    std::fs::write(&file, "[stage1]\nepochs = \"thirty\"\n").unwrap();
    let run = dir.join("thirty");
    // `--epochs 3` (in `tiny`) overrides the file's value.
    let config = format!("--config={}", file.display());
    let out = lt_train(&tiny_with(data, &run, 3, &[&config]));
    assert_error_line(
        &out,
        &format!(
            "lt-train: {}: stage1.epochs: invalid type: string \"thirty\", expected usize",
            file.display()
        ),
    );
    let out = lt_train(&tiny_with(
        data,
        &run,
        3,
        &["--set=stage1.lr=fast", "--set=stage1.lr=0.1"],
    ));
    assert_error_line(
        &out,
        "lt-train: --set stage1.lr: invalid type: string \"fast\", expected f64",
    );
    assert!(
        !run.exists(),
        "a rejected configuration made its run directory"
    );
}

#[test]
fn a_batch_of_one_is_refused() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("one");
    let out = lt_train(&tiny_with(data, &run, 1, &["--set=stage1.batch_size=1"]));
    assert_error_line(
        &out,
        "lt-train: stage1.batch_size: must be at least 2 (batch norm cannot train on one image), got 1",
    );
    let out = lt_train(&tiny_with(
        data,
        &run,
        1,
        &["--set=stage2.epochs=1", "--set=stage2.batch_size=1"],
    ));
    assert_error_line(
        &out,
        "lt-train: stage2.batch_size: must be at least 2 (batch norm cannot train on one image), got 1",
    );
    assert!(!run.exists());
}

#[test]
fn a_batch_larger_than_the_training_split_is_refused() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("huge");
    let out = lt_train(&tiny_with(
        data,
        &run,
        1,
        &["--set=stage1.batch_size=1000000000"],
    ));
    assert_error_line(
        &out,
        &format!(
            "lt-train: stage1.batch_size: 1000000000 exceeds the 14886 training images of {}",
            data.display()
        ),
    );
    assert!(!run.exists());
}

#[test]
fn os_errors_are_printed_once() {
    let data = dataset(NAME);
    let dir = scratch(NAME);
    let missing = dir.join("no-such.toml");
    let config = format!("--config={}", missing.display());
    let out = lt_train(&tiny_with(data, &dir.join("r1"), 1, &[&config]));
    assert_error_line(
        &out,
        &format!(
            "lt-train: {}: No such file or directory (os error 2)",
            missing.display()
        ),
    );
    let nodata = dir.join("no-such-dataset");
    let out = lt_train(&tiny(&nodata, &dir.join("r2"), 1));
    assert_error_line(
        &out,
        &format!(
            "lt-train: dataset {0}: {0}/manifest.json: No such file or directory (os error 2)",
            nodata.display()
        ),
    );
    let nock = dir.join("no-such.safetensors");
    let init = format!("--set=init_checkpoint={}", nock.display());
    let out = lt_train(&tiny_with(
        data,
        &dir.join("r3"),
        1,
        &[&init, "--set=stage2.epochs=1", "--set=stage2.batch_size=8"],
    ));
    assert_error_line(
        &out,
        &format!(
            "lt-train: init_checkpoint: {}: No such file or directory (os error 2)",
            nock.display()
        ),
    );
    assert!(!dir.join("r3").exists());
}

#[test]
fn names_and_factors_are_checked_where_the_configuration_is_read() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("names");
    for (set, want) in [
        (
            "--set=stage1.schedule=\"linear\"",
            "lt-train: --set stage1.schedule: expected \"step\", \"cosine\", \"cosine-epoch\" or \"constant\", got \"linear\"",
        ),
        (
            "--set=stage1.param_lr_factors={scales=\"fast\"}",
            "lt-train: stage1.param_lr_factors.scales: expected a number, got string \"fast\"",
        ),
    ] {
        assert_error_line(&lt_train(&tiny_with(data, &run, 1, &[set])), want);
    }
    let out = lt_train(&tiny_with(data, &run, 1, &["--set=model=\"vgg16\""]));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("lt-train: --set model: unknown model 'vgg16'; known: resnet20, resnet32,"),
        "{err}"
    );
    assert!(!run.exists(), "a rejected setting made its run directory");
}

#[test]
fn the_gpu_settings_are_checked_before_a_run_starts() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("gpu-settings");
    for (set, want) in [
        (
            "--set=amp=true",
            "lt-train: --set amp: invalid type: boolean `true`, expected a string",
        ),
        (
            "--set=amp=\"fp8\"",
            "lt-train: --set amp: expected \"off\", \"bf16\" or \"fp16\", got \"fp8\"",
        ),
        (
            "--set=augment_on_device=\"gpu\"",
            "lt-train: --set augment_on_device: expected \"auto\", \"on\" or \"off\", got \"gpu\"",
        ),
    ] {
        assert_error_line(&lt_train(&tiny_with(data, &run, 1, &[set])), want);
    }
    let mut cmd = lt_train_cmd();
    cmd.args(tiny(data, &run, 1));
    // A bad sync-debug setting is an error even where it would not apply (the CPU).
    let out = cmd.env("LT_CUDA_SYNC_DEBUG", "loud").output().unwrap();
    assert_error_line(
        &out,
        "lt-train: LT_CUDA_SYNC_DEBUG must be off, warn or error, got 'loud'",
    );
    assert!(!run.exists(), "a rejected setting made its run directory");
}

#[test]
fn a_stage_with_epochs_but_nothing_to_train_is_an_error_not_a_panic() {
    // tau-norm has no trainable tensor and stage 2 freezes the backbone: one epoch of it would
    // call backward on a loss without gradient (a panic inside tch before this check).
    let data = dataset(NAME);
    let run = scratch(NAME).join("tau-norm-epoch");
    let config = root().join("configs/decoupling/tau-norm.toml");
    let mut args = tiny(data, &run, 0);
    args.retain(|a| a != "--stage2-epochs=0");
    for a in [
        "--plugin=decoupling".to_string(),
        format!("--config={}", config.display()),
        "--stage2-epochs=1".to_string(),
        "--set=stage2.steps_per_epoch=2".to_string(),
        "--set=stage2.batch_size=8".to_string(),
    ] {
        args.push(a);
    }
    let out = lt_train(&args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "lt-train: stage 2 has 1 epochs but nothing to train (frozen backbone, head 'tau-norm' without trainable tensors); set stage2.epochs = 0 to evaluate it as it is",
        "{err}"
    );
}
