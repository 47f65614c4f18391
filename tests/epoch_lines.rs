//! Every epoch prints one line, with or without `--quiet` (which only hides progress bars),
//! with the test metrics on the epochs that evaluate, and ends with the run's elapsed time and
//! the ETA of its remaining epochs (over both stages). Tests run without a terminal, so no bar
//! is drawn and the lines are all stderr holds besides the final report.
mod common;
use common::*;

const NAME: &str = "epoch_lines";

fn epoch_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("stage ")).collect()
}

/// Seconds of an `H:MM:SS` duration, checking its shape.
fn hms(s: &str) -> u64 {
    let f: Vec<&str> = s.split(':').collect();
    assert!(
        f.len() == 3 && f[1].len() == 2 && f[2].len() == 2,
        "not H:MM:SS: {s}"
    );
    let n: Vec<u64> = f.iter().map(|x| x.parse().unwrap()).collect();
    assert!(n[1] < 60 && n[2] < 60, "{s}");
    n[0] * 3600 + n[1] * 60 + n[2]
}

/// (elapsed, eta) seconds at the end of an epoch line: `... img/s  elapsed H:MM:SS  eta H:MM:SS`.
fn elapsed_eta(line: &str) -> (u64, u64) {
    let (head, eta) = line.rsplit_once("  eta ").expect(line);
    let (head, elapsed) = head.rsplit_once("  elapsed ").expect(line);
    assert!(head.ends_with(" img/s"), "{line}");
    (hms(elapsed), hms(eta))
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
        assert!(
            l.contains("  top1 ") && l.contains(" img/s  elapsed "),
            "{l}"
        );
    }
    let times: Vec<(u64, u64)> = lines.iter().map(|l| elapsed_eta(l)).collect();
    assert!(times.windows(2).all(|w| w[0].0 <= w[1].0), "{err}");
    assert_eq!(times[2].1, 0, "nothing left after the last epoch: {err}");
}

#[test]
fn eta_counts_the_epochs_of_both_stages() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("two-stages");
    let mut args = tiny_with(
        data,
        &run,
        2,
        &[
            "--eval-every=1",
            "--set=stage2.steps_per_epoch=2",
            "--set=stage2.batch_size=8",
        ],
    );
    args.retain(|a| a != "--stage2-epochs=0");
    args.push("--stage2-epochs=2".into());
    let err = assert_ok(&lt_train(&args));
    let lines = epoch_lines(&err);
    let heads: Vec<&str> = lines.iter().map(|l| &l[..17]).collect();
    assert_eq!(
        heads,
        [
            "stage 1 epoch   1",
            "stage 1 epoch   2",
            "stage 2 epoch   1",
            "stage 2 epoch   2"
        ],
        "{err}"
    );
    // A stage-1 epoch takes a whole second or more here (ResNet-10 on the CPU, evaluating the
    // 10,000 test images), so with three epochs left the ETA is not zero; after the last, it is.
    let times: Vec<(u64, u64)> = lines.iter().map(|l| elapsed_eta(l)).collect();
    assert!(times[0].1 >= 3, "{err}");
    assert_eq!(times[3].1, 0, "{err}");
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
