//! `RUN/metrics.csv` and the times in `RUN/metrics.jsonl` through the real binary: a header and
//! one row per epoch as the run goes, RFC 3339 timestamps (read back by Python's csv and
//! datetime modules) and increasing elapsed seconds, empty test columns on epochs that do not
//! evaluate; a resumed run's table equals an uninterrupted run's apart from the times; a run
//! directory made before the table existed gets one with only the new rows.
mod common;
use common::*;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const NAME: &str = "metrics_csv";

const HEADER: &str = "stage,epoch,time,elapsed_s,train_loss,train_acc,lr,images_per_sec,\
                      top1,top5,many,medium,few,ece,mce,nll";

/// The table's rows (without the header, which must be `HEADER`), as fields.
fn rows(run: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).expect("RUN/metrics.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER), "{text}");
    assert!(text.ends_with('\n'), "{text}");
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// The rows without the columns that differ between runs (time, elapsed_s, images_per_sec).
fn untimed(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.drain(2..4);
            r.remove(5);
            r
        })
        .collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// (unix seconds of `time`, `elapsed_s`) of each row, as Python's csv.DictReader and
/// datetime.fromisoformat read them.
fn python_times(csv: &Path) -> Vec<(f64, f64)> {
    let out = python_script(
        "import csv, datetime, sys\n\
         for r in csv.DictReader(open(sys.argv[1], newline='')):\n\
         \x20   t = datetime.datetime.fromisoformat(r['time'].replace('Z', '+00:00'))\n\
         \x20   assert t.utcoffset() == datetime.timedelta(0), r['time']\n\
         \x20   print(t.timestamp(), float(r['elapsed_s']))\n",
        &[csv],
    );
    out.lines()
        .map(|l| {
            let (t, e) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), e.parse().unwrap())
        })
        .collect()
}

fn jsonl(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A tiny run of `epochs` epochs into `run` stopped (`--stop-after`) after `done` of them.
fn interrupted(run: &Path, epochs: usize, done: usize, extra: &[&str]) {
    let stop = format!("--stop-after={done}");
    let mut args = tiny_with(dataset(NAME), run, epochs, extra);
    args.push(stop);
    let out = lt_train(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_row_per_epoch_with_times_and_test_columns_only_when_evaluated() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("table");
    let t0 = now();
    assert_ok(&lt_train(&tiny_with(data, &run, 3, &["--eval-every=2"])));
    let t1 = now();
    let rows = rows(&run);
    let at: Vec<(&str, &str)> = rows.iter().map(|r| (&*r[0], &*r[1])).collect();
    assert_eq!(at, [("1", "1"), ("1", "2"), ("1", "3")]);
    // Epoch 1 does not evaluate: its eight test columns are empty; 2 and 3 have them all.
    assert!(rows[0][8..].iter().all(String::is_empty), "{:?}", rows[0]);
    for r in &rows[1..] {
        assert!(r[8..].iter().all(|f| f.parse::<f64>().is_ok()), "{r:?}");
    }
    for r in &rows {
        assert!(r[4..8].iter().all(|f| f.parse::<f64>().is_ok()), "{r:?}");
        assert!(r[2].ends_with('Z') && r[2].len() == 24, "{r:?}");
    }
    let times = python_times(&run.join("metrics.csv"));
    assert_eq!(times.len(), 3);
    for (i, &(t, e)) in times.iter().enumerate() {
        assert!(t0 - 0.01 <= t && t <= t1 + 0.01, "{t} not in [{t0}, {t1}]");
        assert!(
            e > 0.0 && e <= t1 - t0,
            "elapsed {e} of a {} s run",
            t1 - t0
        );
        if i > 0 {
            assert!(t >= times[i - 1].0 && e > times[i - 1].1, "{times:?}");
        }
    }
    // metrics.jsonl carries the same times and values (serde_json's default float parsing is
    // not exact to the last bit, hence the tolerance).
    let log = jsonl(&run);
    assert_eq!(log.len(), 3);
    let close = |v: &serde_json::Value, f: &str| {
        let (a, b) = (v.as_f64().unwrap(), f.parse::<f64>().unwrap());
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
    };
    for (v, r) in log.iter().zip(&rows) {
        assert_eq!(v["time"].as_str(), Some(&*r[2]), "{v}");
        close(&v["elapsed_s"], &r[3]);
        close(&v["train_loss"], &r[4]);
    }
}

#[test]
fn a_resumed_run_has_the_rows_of_an_uninterrupted_one() {
    let data = dataset(NAME);
    let whole = scratch(NAME).join("whole");
    assert_ok(&lt_train(&tiny_with(data, &whole, 3, &["--eval-every=2"])));

    let run = scratch(NAME).join("interrupted");
    interrupted(&run, 3, 2, &["--eval-every=2"]);
    let kept = rows(&run);
    assert_eq!(kept.len(), 2);
    let before = kept[1][3].parse::<f64>().unwrap();
    // Killed after logging epoch 3, before its checkpoint (and mid-way through a row).
    let table = run.join("metrics.csv");
    let mut text = std::fs::read_to_string(&table).unwrap();
    text.push_str("1,3,2024-02-29T12:34:56.789Z,9.5,1,1,1,1,,,,,,,,\n1,3,2024-02-29T12:3");
    std::fs::write(&table, text).unwrap();

    assert_ok(&lt_train(&tiny_with(
        data,
        &run,
        3,
        &["--eval-every=2", "--resume", "-q"],
    )));
    let resumed = rows(&run);
    assert_eq!(untimed(&resumed), untimed(&rows(&whole)));
    // Elapsed goes on from the last kept row.
    let last = resumed[2][3].parse::<f64>().unwrap();
    assert!(last > before, "{resumed:?}");
}

#[test]
fn a_run_dir_made_before_the_table_gets_one_with_the_new_rows() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("older");
    interrupted(&run, 3, 1, &[]);
    std::fs::remove_file(run.join("metrics.csv")).unwrap();
    assert_ok(&lt_train(&tiny_with(data, &run, 3, &["--resume", "-q"])));
    let at: Vec<(String, String)> = rows(&run)
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(at, [("1".into(), "2".into()), ("1".into(), "3".into())]);
    assert_eq!(jsonl(&run).len(), 3);
}

#[test]
fn a_foreign_table_is_refused_on_resume_and_left_alone() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("foreign");
    interrupted(&run, 2, 1, &[]);
    let table = run.join("metrics.csv");
    std::fs::write(&table, "epoch,loss\n1,0.5\n").unwrap();
    let out = lt_train(&tiny_with(data, &run, 2, &["--resume"]));
    assert_error_line(
        &out,
        &format!(
            "lt-train: {}: its first line is not lt-train's metrics.csv header ({HEADER}); \
             move it away to resume",
            table.display()
        ),
    );
    assert_eq!(
        std::fs::read_to_string(&table).unwrap(),
        "epoch,loss\n1,0.5\n"
    );
}
