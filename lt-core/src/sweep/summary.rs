//! The summary of a sweep's complete runs: for every numeric metric of their `metrics.json`
//! (top-level, and in each `splits` block), the mean, the sample standard deviation (n - 1 in
//! the denominator, Python's `statistics.stdev`; none for one run), min, max, n and the values
//! in seed order. Written as `summary.json` and a Markdown table `summary.md`.

use super::dir::{seed_dir, MD_TITLE, SUMMARY_JSON, SUMMARY_MD, WRITTEN_BY};
use super::SweepError;
use crate::metrics::Metrics;
use serde_json::{json, Value};
use std::path::Path;

/// Fields of `metrics.json` that are numbers but not metrics of the model.
const NOT_METRICS: [&str; 2] = ["count", "upper_top1"];

/// What follows [`Metrics::SCALARS`] in a summary; other fields then follow alphabetically.
const AFTER_SCALARS: [&str; 3] = ["relative_accuracy", "best_top1", "branches_per_image"];

/// Where `metric` is listed: the scalars first, then [`AFTER_SCALARS`], then the others.
fn rank(metric: &str) -> usize {
    let order = Metrics::SCALARS.iter().chain(&AFTER_SCALARS);
    order
        .clone()
        .position(|m| *m == metric)
        .unwrap_or(order.count())
}

/// Whether a summary's one line shows `metric` (the scalars and relative accuracy).
fn on_the_line(metric: &str) -> bool {
    rank(metric) <= Metrics::SCALARS.len()
}

/// Statistics of one metric over the runs that have it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    pub mean: f64,
    /// Sample standard deviation (n - 1 denominator); `None` for one value.
    pub std: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub n: usize,
    /// The values, in the order given (seed order).
    pub values: Vec<f64>,
}

impl Stats {
    /// The statistics of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Stats> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        Some(Stats {
            mean,
            std: (n > 1).then(|| (squares / (n - 1) as f64).sqrt()),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n,
            values: values.to_vec(),
        })
    }

    fn to_json(&self) -> Value {
        json!({"mean": self.mean, "std": self.std, "min": self.min, "max": self.max, "n": self.n,
            "values": self.values})
    }
}

/// Every metric's statistics, in [`rank`] order.
type Table = Vec<(String, Stats)>;

/// The summary of a sweep's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedSummary {
    /// The seeds summarised, in the order asked.
    pub seeds: Vec<u64>,
    /// The top-level metrics.
    pub metrics: Table,
    /// Each `splits` block's metrics, by split name (sorted).
    pub splits: Vec<(String, Table)>,
}

impl SeedSummary {
    /// The summary of the `metrics.json` of seed runs (seed, its JSON).
    pub fn of_runs(runs: &[(u64, Value)]) -> SeedSummary {
        let blocks: Vec<&Value> = runs.iter().map(|(_, v)| v).collect();
        let mut names: Vec<String> = blocks
            .iter()
            .filter_map(|v| v["splits"].as_object())
            .flat_map(|o| o.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        let splits = names
            .into_iter()
            .map(|name| {
                let of_split: Vec<&Value> = blocks.iter().map(|v| &v["splits"][&name]).collect();
                (name, table(&of_split))
            })
            .collect();
        SeedSummary {
            seeds: runs.iter().map(|(s, _)| *s).collect(),
            metrics: table(&blocks),
            splits,
        }
    }

    /// Reads the `metrics.json` of each of `seeds`' runs in the sweep directory `out`.
    pub fn read(out: &Path, seeds: &[u64]) -> Result<SeedSummary, SweepError> {
        let mut runs = Vec::with_capacity(seeds.len());
        for &seed in seeds {
            let path = seed_dir(out, seed).join("metrics.json");
            let text = std::fs::read_to_string(&path).map_err(|e| SweepError::io(&path, e))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| SweepError::Metrics {
                path: path.clone(),
                reason: format!("not JSON: {e}"),
            })?;
            if !v["top1"].is_number() {
                return Err(SweepError::Metrics {
                    path,
                    reason: "no top1: not the metrics.json of a run".into(),
                });
            }
            runs.push((seed, v));
        }
        Ok(SeedSummary::of_runs(&runs))
    }

    /// `summary.json`: the seeds, their run directories, and the statistics.
    pub fn to_json(&self) -> Value {
        let block = |t: &Table| -> Value {
            Value::Object(t.iter().map(|(k, s)| (k.clone(), s.to_json())).collect())
        };
        let mut out = json!({
            "written_by": WRITTEN_BY,
            "seeds": self.seeds,
            "runs": self.seeds.iter().map(|s| format!("seed-{s}")).collect::<Vec<_>>(),
            "std": "sample standard deviation (n - 1 in the denominator); null when n = 1",
            "metrics": block(&self.metrics),
        });
        if !self.splits.is_empty() {
            out["splits"] = Value::Object(
                self.splits
                    .iter()
                    .map(|(n, t)| (n.clone(), block(t)))
                    .collect(),
            );
        }
        out
    }

    /// `summary.md`: a table per block, `mean ± std` with min, max and n.
    pub fn to_markdown(&self, out: &Path) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut md = format!(
            "{MD_TITLE}\n\n{}: {} seeds ({}). Mean ± sample standard deviation (n - 1), min, max \
             and the number of runs with the metric.\n",
            out.display(),
            self.seeds.len(),
            seeds.join(", ")
        );
        md.push_str(&markdown_table(&self.metrics));
        for (name, t) in &self.splits {
            md.push_str(&format!("\n## {name}\n{}", markdown_table(t)));
        }
        md
    }

    /// `top1 80.12 ± 1.23  top5 ...  (3 seeds)`: the metrics a run's summary line shows.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        for (k, s) in &self.metrics {
            if on_the_line(k) {
                parts.push(format!("{k} {}", mean_std(k, s)));
            }
        }
        format!("{}  ({} seeds)", parts.join("  "), self.seeds.len())
    }

    /// Writes `summary.md`, then `summary.json` (the file that says the sweep is complete),
    /// each atomically, into `out`.
    pub fn write(&self, out: &Path) -> Result<(), SweepError> {
        let write = |name: &str, text: String| {
            let path = out.join(name);
            lt_data::manifest::write_atomic(&path, text.as_bytes()).map_err(SweepError::Write)
        };
        write(SUMMARY_MD, self.to_markdown(out))?;
        let json = serde_json::to_string_pretty(&self.to_json()).expect("summary serialises");
        write(SUMMARY_JSON, json + "\n")
    }
}

/// The statistics of every numeric field of `blocks` (JSON objects; null fields and runs
/// without one are left out of its values), in [`rank`] order.
fn table(blocks: &[&Value]) -> Table {
    let mut keys: Vec<String> = blocks
        .iter()
        .filter_map(|v| v.as_object())
        .flat_map(|o| o.iter())
        .filter(|(k, v)| v.is_number() && !NOT_METRICS.contains(&k.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<f64> = blocks.iter().filter_map(|v| v[&k].as_f64()).collect();
            Stats::of(&values).map(|s| (k, s))
        })
        .collect()
}

/// Decimals a metric is shown with: 4 for NLL (nats), 2 for percentages.
fn decimals(metric: &str) -> usize {
    if metric == "nll" {
        4
    } else {
        2
    }
}

/// `80.12 ± 1.23`, or `80.12` for one run.
fn mean_std(metric: &str, s: &Stats) -> String {
    let d = decimals(metric);
    match s.std {
        Some(std) => format!("{:.d$} ± {std:.d$}", s.mean),
        None => format!("{:.d$}", s.mean),
    }
}

fn markdown_table(t: &Table) -> String {
    let mut md = String::from(
        "\n| metric | mean ± std | min | max | n |\n| --- | --- | --- | --- | --- |\n",
    );
    for (k, s) in t {
        let d = decimals(k);
        md.push_str(&format!(
            "| {k} | {} | {:.d$} | {:.d$} | {} |\n",
            mean_std(k, s),
            s.min,
            s.max,
            s.n
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn stats_match_python_statistics() {
        // python3 -c "import statistics as s; v=[80.0, 82.0, 84.5]; print(s.mean(v), s.stdev(v))"
        // 82.16666666666667 2.254624876411447
        let s = Stats::of(&[80.0, 82.0, 84.5]).unwrap();
        assert!(close(s.mean, 82.16666666666667));
        assert!(close(s.std.unwrap(), 2.254624876411447));
        assert_eq!((s.min, s.max, s.n), (80.0, 84.5, 3));
        // python3 -c "import statistics as s; v=[2,4,4,4,5,5,7,9]; print(s.mean(v), s.stdev(v))"
        // 5 2.138089935299395 (the population deviation would be 2)
        let s = Stats::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!(close(s.mean, 5.0));
        assert!(close(s.std.unwrap(), 2.138089935299395));
        // python3 -c "import statistics as s; v=[71.25, 70.5]; print(s.mean(v), s.stdev(v))"
        // 70.875 0.5303300858899106 (= |a - b| / sqrt(2))
        let s = Stats::of(&[71.25, 70.5]).unwrap();
        assert!(close(s.mean, 70.875));
        assert!(close(s.std.unwrap(), 0.5303300858899106));
        let one = Stats::of(&[3.5]).unwrap();
        assert_eq!(
            (one.mean, one.std, one.min, one.max, one.n),
            (3.5, None, 3.5, 3.5, 1)
        );
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn every_numeric_metric_of_the_runs_and_their_splits() {
        let runs = [
            (
                4,
                json!({"top1": 71.25, "top5": 98.0, "many": null, "nll": 0.5, "count": 10000,
                    "per_class": [1.0], "relative_accuracy": 90.0, "upper_top1": 79.0,
                    "splits": {"test-fwd-50": {"top1": 60.0}}}),
            ),
            (
                2,
                json!({"top1": 70.5, "top5": 97.0, "many": null, "nll": 0.7, "count": 10000,
                    "per_class": [1.0], "relative_accuracy": 89.0, "upper_top1": 79.0,
                    "splits": {"test-fwd-50": {"top1": 62.0}}}),
            ),
        ];
        let s = SeedSummary::of_runs(&runs);
        assert_eq!(s.seeds, [4, 2]);
        let names: Vec<&str> = s.metrics.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["top1", "top5", "nll", "relative_accuracy"]);
        assert_eq!(s.metrics[0].1.values, [71.25, 70.5]);
        assert!(close(s.metrics[0].1.mean, 70.875));
        assert_eq!(s.splits[0].0, "test-fwd-50");
        assert!(close(s.splits[0].1[0].1.mean, 61.0));
        let j = s.to_json();
        assert_eq!(j["runs"], json!(["seed-4", "seed-2"]));
        assert_eq!(j["metrics"]["top1"]["n"], 2);
        assert!(j["metrics"].get("count").is_none() && j["metrics"].get("many").is_none());
        assert_eq!(j["splits"]["test-fwd-50"]["top1"]["max"], 62.0);
        assert_eq!(
            s.line(),
            "top1 70.88 ± 0.53  top5 97.50 ± 0.71  nll 0.6000 ± 0.1414  relative_accuracy 89.50 ± 0.71  (2 seeds)"
        );
        let md = s.to_markdown(Path::new("runs/x"));
        assert!(
            md.starts_with(&format!("{MD_TITLE}\n\nruns/x: 2 seeds (4, 2).")),
            "{md}"
        );
        assert!(
            md.contains("| top1 | 70.88 ± 0.53 | 70.50 | 71.25 | 2 |\n"),
            "{md}"
        );
        assert!(md.contains("\n## test-fwd-50\n"), "{md}");
    }

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().unwrap();
        for (seed, top1) in [(0u64, 50.0), (1, 52.0)] {
            let run = seed_dir(dir.path(), seed);
            std::fs::create_dir_all(&run).unwrap();
            std::fs::write(run.join("metrics.json"), json!({"top1": top1}).to_string()).unwrap();
        }
        let s = SeedSummary::read(dir.path(), &[0, 1]).unwrap();
        s.write(dir.path()).unwrap();
        let back: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(SUMMARY_JSON)).unwrap())
                .unwrap();
        assert_eq!(back["metrics"]["top1"]["mean"], 51.0);
        std::fs::write(seed_dir(dir.path(), 1).join("metrics.json"), "{}").unwrap();
        let err = SeedSummary::read(dir.path(), &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("metrics.json: no top1: not the metrics.json of a run"),
            "{err}"
        );
    }
}
