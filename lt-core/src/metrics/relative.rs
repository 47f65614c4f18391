//! Relative accuracy, the metric of Zhang et al., "Deep Long-Tailed Learning: A Survey" (2021,
//! TPAMI 2023): A_r = A_t / A_u, written here in percent (100 A_t / A_u). A_t is the method's
//! top-1 on the balanced test set; the upper reference A_u = max(A_v, A_b), A_v the top-1 of
//! vanilla cross-entropy and A_b that of the same method, both trained on a balanced training
//! set of as many images as the long-tailed one (`lt-data build --profile balanced`). A_r near
//! 100 means the method loses little to class imbalance.
//!
//! A_u is given as a number (`upper_top1`) or read from those runs (`upper_from`, `--upper-from
//! A_V_RUN,A_B_RUN`): a run directory's `metrics.json` top-1, or a `--seeds` directory's
//! `summary.json` mean top-1; the highest is A_u.

use crate::config::Config;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The upper reference A_u of a run's relative accuracy, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct UpperReference {
    /// A_u, percent.
    pub top1: f64,
    /// The runs it is the best of, each with its top-1; empty when given as a number.
    pub from: Vec<(PathBuf, f64)>,
}

impl UpperReference {
    /// The configuration's: the best of `upper_from`'s runs, else `upper_top1` when positive,
    /// else none. A run that cannot be read is an error naming it.
    pub fn of_config(cfg: &Config) -> Result<Option<Self>> {
        if !cfg.upper_from.is_empty() {
            return Self::from_runs(&cfg.upper_from).map(Some);
        }
        Ok((cfg.upper_top1 > 0.0).then(|| UpperReference {
            top1: cfg.upper_top1,
            from: Vec::new(),
        }))
    }

    /// The highest top-1 of `runs` (each a run or `--seeds` directory).
    pub fn from_runs(runs: &[PathBuf]) -> Result<Self> {
        let mut from = Vec::with_capacity(runs.len());
        for run in runs {
            from.push((run.clone(), run_top1(run)?));
        }
        let top1 = from
            .iter()
            .map(|(_, t)| *t)
            .fold(f64::NEG_INFINITY, f64::max);
        if top1.is_nan() || top1 <= 0.0 {
            return Err(Error::Config(format!(
                "upper_from: the best top-1 of the runs is {top1}; relative accuracy needs a positive upper reference"
            )));
        }
        Ok(UpperReference { top1, from })
    }

    /// 100 A_t / A_u.
    pub fn relative(&self, top1: f64) -> f64 {
        100.0 * top1 / self.top1
    }

    /// Adds `relative_accuracy`, `upper_top1` and (from runs) `upper_from` (run -> its top-1)
    /// to the metrics JSON object `out` of top-1 `top1`.
    pub fn annotate(&self, out: &mut serde_json::Value, top1: f64) {
        out["relative_accuracy"] = serde_json::json!(self.relative(top1));
        out["upper_top1"] = serde_json::json!(self.top1);
        if !self.from.is_empty() {
            let runs: serde_json::Map<String, serde_json::Value> = self
                .from
                .iter()
                .map(|(run, t)| (run.display().to_string(), serde_json::json!(t)))
                .collect();
            out["upper_from"] = serde_json::Value::Object(runs);
        }
    }

    /// `relative accuracy 93.41 (top1 80.12 / upper 85.77, the best of RUN 85.77, RUN 84.02)`.
    pub fn line(&self, top1: f64) -> String {
        let mut s = format!(
            "relative accuracy {:.2} (top1 {top1:.2} / upper {:.2}",
            self.relative(top1),
            self.top1
        );
        if !self.from.is_empty() {
            let runs: Vec<String> = self
                .from
                .iter()
                .map(|(r, t)| format!("{} {t:.2}", r.display()))
                .collect();
            s.push_str(&format!(", the best of {}", runs.join(", ")));
        }
        s.push(')');
        s
    }
}

/// The top-1 of a finished run (`RUN/metrics.json`'s `top1`) or of a finished `--seeds`
/// directory (`RUN/summary.json`'s mean top-1).
fn run_top1(run: &Path) -> Result<f64> {
    let bad = |reason: String| Error::UpperReference {
        run: run.to_path_buf(),
        reason,
    };
    if !run.is_dir() {
        return Err(bad(match run.exists() {
            true => "not a directory".into(),
            false => "no such run directory".into(),
        }));
    }
    let (file, pointer) = match run.join("metrics.json") {
        m if m.exists() => (m, "/top1"),
        _ => (run.join(crate::sweep::SUMMARY_JSON), "/metrics/top1/mean"),
    };
    if !file.exists() {
        return Err(bad(
            "holds neither metrics.json (a finished run) nor summary.json (a finished --seeds directory)".into(),
        ));
    }
    let text =
        std::fs::read_to_string(&file).map_err(|e| bad(format!("{}: {e}", file.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{}: not JSON: {e}", file.display())))?;
    v.pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| bad(format!("{}: no top-1 ({pointer})", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(dir: &Path, name: &str, file: &str, text: &str) -> PathBuf {
        let run = dir.join(name);
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join(file), text).unwrap();
        run
    }

    #[test]
    fn the_best_run_is_the_upper_reference() {
        let dir = tempfile::tempdir().unwrap();
        let a = run_with(
            dir.path(),
            "ce-balanced",
            "metrics.json",
            r#"{"top1": 80.0}"#,
        );
        let b = run_with(
            dir.path(),
            "seeds",
            "summary.json",
            r#"{"metrics": {"top1": {"mean": 82.5, "std": 0.5}}}"#,
        );
        let u = UpperReference::from_runs(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(u.top1, 82.5);
        assert_eq!(u.from, [(a.clone(), 80.0), (b, 82.5)]);
        // 100 * 66 / 82.5 = 80.
        assert!((u.relative(66.0) - 80.0).abs() < 1e-12);
        let mut out = serde_json::json!({"top1": 66.0});
        u.annotate(&mut out, 66.0);
        assert_eq!(out["upper_top1"], 82.5);
        assert_eq!(out["upper_from"][a.display().to_string()], 80.0);
        assert!(u
            .line(66.0)
            .starts_with("relative accuracy 80.00 (top1 66.00 / upper 82.50, the best of "));
    }

    #[test]
    fn unreadable_runs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = |run: PathBuf| UpperReference::from_runs(&[run]).unwrap_err().to_string();
        let missing = dir.path().join("nowhere");
        assert_eq!(
            err(missing.clone()),
            format!("upper_from {}: no such run directory", missing.display())
        );
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(err(empty).ends_with(
            "holds neither metrics.json (a finished run) nor summary.json (a finished --seeds directory)"
        ));
        let torn = run_with(dir.path(), "torn", "metrics.json", r#"{"top1": 8"#);
        assert!(err(torn.clone()).starts_with(&format!(
            "upper_from {}: {}: not JSON: ",
            torn.display(),
            torn.join("metrics.json").display()
        )));
        let zero = run_with(dir.path(), "zero", "metrics.json", r#"{"top1": 0.0}"#);
        assert!(err(zero).contains("needs a positive upper reference"));
    }
}
