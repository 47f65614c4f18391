//! [`Metrics`]: every number of an evaluation, as written to `metrics.json` and the metrics
//! JSON lines.

use super::{
    ece, mce, nll, per_class_accuracy, reliability_bins, shot_accuracy, top1, top5, write_atomic,
    Bin, Sample, Shot, ECE_BINS,
};
use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything written to `metrics.json` / the metrics JSON lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Top-1 accuracy, percent.
    pub top1: f64,
    /// Top-5 accuracy, percent.
    pub top5: f64,
    /// Mean per-class accuracy of the many-shot classes, percent (null without a group map).
    pub many: Option<f64>,
    pub medium: Option<f64>,
    pub few: Option<f64>,
    /// Expected calibration error, 15 bins, percent.
    pub ece: f64,
    /// Maximum calibration error, 15 bins, percent.
    pub mce: f64,
    /// Mean negative log-likelihood, nats.
    pub nll: f64,
    /// Per-class top-1 accuracy, percent; null for classes without test images.
    pub per_class: Vec<Option<f64>>,
    /// Number of evaluated images.
    pub count: usize,
    /// The 15 bins behind ECE/MCE, for the reliability diagram.
    pub bins: Vec<Bin>,
    /// Mean number of branches (experts) an image used, for a model plugin that routes each
    /// image to some of its branches (RIDE's router); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches_per_image: Option<f64>,
}

impl Metrics {
    /// The scalar metrics of `metrics.json`, in the order summaries list them.
    pub const SCALARS: [&'static str; 8] =
        ["top1", "top5", "many", "medium", "few", "ece", "mce", "nll"];

    pub fn compute(s: &[Sample], num_classes: usize, groups: Option<&[Shot]>) -> Result<Metrics> {
        let per_class = per_class_accuracy(s, num_classes);
        let [many, medium, few] = match groups {
            Some(g) => shot_accuracy(&per_class, g)?,
            None => [None; 3],
        };
        let bins = reliability_bins(s, ECE_BINS);
        Ok(Metrics {
            top1: top1(s),
            top5: top5(s),
            many,
            medium,
            few,
            ece: ece(&bins),
            mce: mce(&bins),
            nll: nll(s),
            per_class,
            count: s.len(),
            bins,
            branches_per_image: None,
        })
    }

    /// The one line a run ends with and `lt-train eval` prints: top-1, top-5, the shot
    /// groups (`-` without one), ECE and MCE in percent, NLL in nats.
    pub fn summary_line(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let line = format!(
            "top1 {:.2}  top5 {:.2}  many {}  medium {}  few {}  ECE {:.2}  MCE {:.2}  NLL {:.4}",
            self.top1,
            self.top5,
            pct(self.many),
            pct(self.medium),
            pct(self.few),
            self.ece,
            self.mce,
            self.nll
        );
        match self.branches_per_image {
            Some(b) => format!("{line}  branches/image {b:.3}"),
            None => line,
        }
    }

    /// Writes pretty JSON to `path` atomically (temp file in the same directory, then rename).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::{write_reliability_png, Evaluator, Metrics, Shot};

    #[test]
    fn metrics_json_keys_and_png() {
        let mut e = Evaluator::new(2);
        e.add_probs(&[0.9, 0.1, 0.4, 0.6, 0.2, 0.8], &[0, 0, 1])
            .unwrap();
        let m = e.finish(Some(&[Shot::Many, Shot::Few])).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let jp = dir.path().join("metrics.json");
        m.write_json(&jp).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&jp).unwrap()).unwrap();
        for k in Metrics::SCALARS.iter().chain(&["per_class"]) {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!((v["top1"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(v["many"].as_f64(), Some(50.0));
        assert!(v["medium"].is_null());
        let pp = dir.path().join("reliability.png");
        write_reliability_png(&m.bins, &pp).unwrap();
        let img = image::open(&pp).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (560, 560));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        let bad = dir.path().join("no/such/dir.png");
        let e = write_reliability_png(&m.bins, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&bad.display().to_string()) && !e.contains('\n'),
            "{e}"
        );
    }
}
