//! Every epoch prints one line, with or without `--quiet` (which only hides progress bars),
//! with the test metrics on the epochs that evaluate.
mod common;
use common::*;

const NAME: &str = "epoch_lines";

fn epoch_lines(err: &str) -> Vec<&str> {
    err.lines()
        .filter(|l| l.starts_with("stage 1 epoch"))
        .collect()
}

#[test]
fn quiet_prints_every_epoch_with_its_evaluation() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("quiet");
    let err = assert_ok(&lt_train(&tiny_with(
        data,
        &run,
        3,
        &["--quiet", "--eval-every=1"],
    )));
    let lines = epoch_lines(&err);
    assert_eq!(lines.len(), 3, "{err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("stage 1 epoch   {}/3  loss ", i + 1)),
            "{l}"
        );
        assert!(l.contains("  top1 ") && l.ends_with(" img/s"), "{l}");
    }
}

#[test]
fn without_quiet_epochs_that_do_not_evaluate_print_too() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("loud");
    let err = assert_ok(&lt_train(&tiny_with(data, &run, 3, &["--eval-every=2"])));
    let lines = epoch_lines(&err);
    assert_eq!(lines.len(), 3, "{err}");
    let evaluated: Vec<bool> = lines.iter().map(|l| l.contains("  top1 ")).collect();
    assert_eq!(evaluated, [false, true, true], "{err}");
}
