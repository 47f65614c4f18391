//! `RUN/metrics.csv`: a header row, then one row per epoch made from the epoch's
//! `metrics.jsonl` entry, for spreadsheets and pandas. The test columns are empty on epochs
//! that do not evaluate (and `many` / `medium` / `few` where a group has no classes). No field
//! holds a comma or a quote, so no quoting is needed (and no csv crate).

use crate::{Error, Result};
use std::path::Path;

/// The training columns, each read from the entry's key of the same name.
const TRAIN: [&str; 8] = [
    "stage",
    "epoch",
    "time",
    "elapsed_s",
    "train_loss",
    "train_acc",
    "lr",
    "images_per_sec",
];

/// The test columns, read from the entry's `test` object.
const TEST: [&str; 8] = ["top1", "top5", "many", "medium", "few", "ece", "mce", "nll"];

/// The header row, without its newline.
pub(super) fn header() -> String {
    [&TRAIN[..], &TEST[..]].concat().join(",")
}

/// The row of an epoch's `metrics.jsonl` entry, with its newline.
pub(super) fn row(entry: &serde_json::Value) -> String {
    let field = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let fields: Vec<String> = TRAIN
        .iter()
        .map(|k| field(&entry[k]))
        .chain(TEST.iter().map(|k| field(&entry["test"][k])))
        .collect();
    format!("{}\n", fields.join(","))
}

/// (stage, epoch) of a whole data row; `None` for a torn or foreign one.
pub(super) fn row_at(line: &str) -> Option<(u32, usize)> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != TRAIN.len() + TEST.len() {
        return None;
    }
    Some((f[0].parse().ok()?, f[1].parse().ok()?))
}

/// `elapsed_s` of a data row.
pub(super) fn row_elapsed(line: &str) -> Option<f64> {
    line.split(',').nth(3)?.parse().ok()
}

/// The text of `path` for a run to append to: `Ok(None)` when it does not exist, an error when
/// its first line is not this header (a file lt-train did not write, or an older layout).
pub(super) fn read(path: &Path) -> Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    if text.lines().next() != Some(header().as_str()) {
        return Err(Error::RunDir(format!(
            "{}: its first line is not lt-train's metrics.csv header ({}); move it away to resume",
            path.display(),
            header()
        )));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_header_with_empty_test_columns_when_not_evaluated() {
        let h = header();
        assert!(h.starts_with("stage,epoch,time,elapsed_s,train_loss,"));
        let mut e = serde_json::json!({"stage": 1, "epoch": 3, "time": "2024-02-29T12:34:56.789Z",
            "elapsed_s": 12.5, "train_loss": 0.25, "train_acc": 50.0, "lr": 0.1,
            "images_per_sec": 99.5, "steps": 2});
        let r = row(&e);
        assert_eq!(
            r,
            "1,3,2024-02-29T12:34:56.789Z,12.5,0.25,50.0,0.1,99.5,,,,,,,,\n"
        );
        assert_eq!(row_at(r.trim_end()), Some((1, 3)));
        assert_eq!(row_elapsed(r.trim_end()), Some(12.5));
        e["test"] = serde_json::json!({"top1": 60.0, "top5": 90.0, "many": 70.0,
            "medium": null, "few": 1.5, "ece": 2.0, "mce": 3.0, "nll": 0.9});
        assert!(row(&e).ends_with(",60.0,90.0,70.0,,1.5,2.0,3.0,0.9\n"));
        assert_eq!(h.split(',').count(), row(&e).split(',').count());
        assert_eq!(row_at("1,3,2024-02"), None);
    }
}
