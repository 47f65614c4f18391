//! Evaluation metrics of long-tailed recognition.
//!
//! Units: accuracies, ECE and MCE are **percent** (0–100); NLL is the mean negative natural
//! log-likelihood of the true class, in **nats**.
//!
//! An evaluation keeps one compact [`Sample`] per image (label, top-1, top-5 hit, confidence,
//! NLL) instead of full probability rows, so iNaturalist-sized evaluations stay small. Every
//! metric is a pure function of `&[Sample]`.
//!
//! Calibration follows the MiSLAS evaluation: 15 equal-width confidence bins over (0, 1],
//! bin `b` holds confidences in `(b/15, (b+1)/15]` (a confidence of exactly 0 goes to bin 0);
//! `ECE = sum_b |acc_b - conf_b| * n_b / N`, `MCE = max_b |acc_b - conf_b|` over non-empty bins.
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Number of confidence bins of the reported ECE / MCE.
pub const ECE_BINS: usize = 15;

/// Per-image outcome, everything the metrics need.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub label: i64,
    /// Arg-max class.
    pub pred: i64,
    /// Label among the 5 most probable classes (all classes when fewer than 5).
    pub top5: bool,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// `-ln p(label)`, nats.
    pub nll: f64,
}

/// Shot group of a class (many > 100, few < 20 training images in the usual rule; the map
/// comes from the dataset manifest): the data side's group type.
pub use lt_data::recipe::Group as Shot;

/// Turns logits or probabilities into [`Sample`]s, batch by batch.
#[derive(Debug, Clone)]
pub struct Evaluator {
    num_classes: usize,
    samples: Vec<Sample>,
}

impl Evaluator {
    pub fn new(num_classes: usize) -> Self {
        Evaluator {
            num_classes,
            samples: Vec::new(),
        }
    }

    /// Adds a batch of logits `[N, C]` (any device, any float kind) with labels `[N]`.
    /// Softmax runs in float64 on the logits' device; only N x 8 numbers come to the host.
    pub fn add_logits(&mut self, logits: &Tensor, labels: &Tensor) -> Result<()> {
        let size = logits.size();
        if size.len() != 2 || size[1] as usize != self.num_classes {
            return Err(Error::Metrics(format!(
                "evaluation: logits of shape {size:?}, expected [N, {}]",
                self.num_classes
            )));
        }
        if labels.size() != [size[0]] {
            return Err(Error::Metrics(format!(
                "evaluation: {} logit rows but labels of shape {:?}",
                size[0],
                labels.size()
            )));
        }
        if size[0] == 0 {
            return Ok(());
        }
        let labels = labels
            .f_to_kind(Kind::Int64)?
            .f_to_device(logits.device())?;
        let max_label = labels.f_max()?.int64_value(&[]);
        let min_label = labels.f_min()?.int64_value(&[]);
        if min_label < 0 || max_label >= self.num_classes as i64 {
            return Err(Error::Metrics(format!(
                "evaluation: label {} outside 0..{}",
                if min_label < 0 { min_label } else { max_label },
                self.num_classes
            )));
        }
        let logp = tch::no_grad(|| {
            logits
                .f_to_kind(Kind::Double)?
                .f_log_softmax(-1, Kind::Double)
        })?;
        let k = self.num_classes.min(5) as i64;
        let (top_logp, top_idx) = logp.f_topk(k, -1, true, true)?;
        let lab = labels.f_unsqueeze(1)?;
        let nll = logp.f_gather(1, &lab, false)?.f_neg()?.f_squeeze_dim(1)?;
        let conf = top_logp.f_select(1, 0)?.f_exp()?;
        let pred = top_idx.f_select(1, 0)?;
        let in5 = top_idx.f_eq_tensor(&lab)?.f_any_dim(1, false)?;
        let cpu = |t: Tensor| t.f_to_device(Device::Cpu);
        let nll = Vec::<f64>::try_from(cpu(nll)?)?;
        let conf = Vec::<f64>::try_from(cpu(conf)?)?;
        let pred = Vec::<i64>::try_from(cpu(pred)?)?;
        let in5 = Vec::<bool>::try_from(cpu(in5)?)?;
        let lab = Vec::<i64>::try_from(cpu(labels)?)?;
        for i in 0..lab.len() {
            self.samples.push(Sample {
                label: lab[i],
                pred: pred[i],
                top5: in5[i],
                confidence: conf[i],
                nll: nll[i],
            });
        }
        Ok(())
    }

    /// Adds probability rows (row-major `[N, C]`) with labels, e.g. computed elsewhere. Rows
    /// must be finite and non-negative; they are used as given (not renormalised).
    pub fn add_probs(&mut self, probs: &[f32], labels: &[i64]) -> Result<()> {
        let c = self.num_classes;
        if c == 0 || probs.len() != labels.len() * c {
            return Err(Error::Metrics(format!(
                "evaluation: {} probabilities for {} labels and {c} classes",
                probs.len(),
                labels.len()
            )));
        }
        for (row, &label) in probs.chunks(c).zip(labels) {
            if label < 0 || label as usize >= c {
                return Err(Error::Metrics(format!(
                    "evaluation: label {label} outside 0..{c}"
                )));
            }
            if row.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(Error::Metrics(
                    "evaluation: probability row with a negative or non-finite value".into(),
                ));
            }
            let mut order: Vec<usize> = (0..c).collect();
            // Stable: ties keep the lower class first, as arg-max.
            order.sort_by(|&a, &b| {
                row[b]
                    .partial_cmp(&row[a])
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let pred = order[0];
            let p_true = row[label as usize] as f64;
            self.samples.push(Sample {
                label,
                pred: pred as i64,
                top5: order.iter().take(5).any(|&k| k == label as usize),
                confidence: row[pred] as f64,
                nll: -p_true.max(f64::MIN_POSITIVE).ln(),
            });
        }
        Ok(())
    }

    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// All metrics; `groups` maps class -> shot group (None: many/medium/few are null).
    pub fn finish(&self, groups: Option<&[Shot]>) -> Result<Metrics> {
        Metrics::compute(&self.samples, self.num_classes, groups)
    }
}

fn percent(hit: usize, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        100.0 * hit as f64 / n as f64
    }
}

/// Top-1 accuracy, percent.
pub fn top1(s: &[Sample]) -> f64 {
    percent(s.iter().filter(|x| x.pred == x.label).count(), s.len())
}

/// Top-5 accuracy, percent.
pub fn top5(s: &[Sample]) -> f64 {
    percent(s.iter().filter(|x| x.top5).count(), s.len())
}

/// Top-1 accuracy of every class, percent; `None` for classes without test images.
pub fn per_class_accuracy(s: &[Sample], num_classes: usize) -> Vec<Option<f64>> {
    let mut hit = vec![0usize; num_classes];
    let mut n = vec![0usize; num_classes];
    for x in s {
        if let Some(c) = usize::try_from(x.label).ok().filter(|&c| c < num_classes) {
            n[c] += 1;
            hit[c] += (x.pred == x.label) as usize;
        }
    }
    hit.iter()
        .zip(&n)
        .map(|(&h, &k)| (k > 0).then(|| percent(h, k)))
        .collect()
}

/// Mean of the per-class accuracies of each shot group (the convention of OLTR, cRT and
/// MiSLAS), percent; `None` for a group without evaluated classes.
pub fn shot_accuracy(per_class: &[Option<f64>], groups: &[Shot]) -> Result<[Option<f64>; 3]> {
    if per_class.len() != groups.len() {
        return Err(Error::Metrics(format!(
            "shot groups given for {} classes, the model has {}",
            groups.len(),
            per_class.len()
        )));
    }
    let mut out = [None; 3];
    for (i, g) in [Shot::Many, Shot::Medium, Shot::Few].iter().enumerate() {
        let v: Vec<f64> = per_class
            .iter()
            .zip(groups)
            .filter(|(_, gg)| *gg == g)
            .filter_map(|(a, _)| *a)
            .collect();
        if !v.is_empty() {
            out[i] = Some(v.iter().sum::<f64>() / v.len() as f64);
        }
    }
    Ok(out)
}

/// Mean NLL of the true class, nats.
pub fn nll(s: &[Sample]) -> f64 {
    if s.is_empty() {
        0.0
    } else {
        s.iter().map(|x| x.nll).sum::<f64>() / s.len() as f64
    }
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Accuracy of the bin's samples, fraction 0–1 (0 when empty).
    pub accuracy: f64,
    /// Mean confidence of the bin's samples, 0–1 (0 when empty).
    pub confidence: f64,
}

/// Equal-width confidence bins over (0, 1].
pub fn reliability_bins(s: &[Sample], n_bins: usize) -> Vec<Bin> {
    let n_bins = n_bins.max(1);
    let mut count = vec![0usize; n_bins];
    let mut hit = vec![0usize; n_bins];
    let mut conf = vec![0f64; n_bins];
    for x in s {
        // Bin b covers (b/n, (b+1)/n] with the edges computed as b as f64 / n as f64; the
        // estimate ceil(c*n) - 1 is corrected for rounding at the edges.
        let nb = n_bins as f64;
        let mut b = ((x.confidence * nb).ceil() as i64 - 1).clamp(0, n_bins as i64 - 1) as usize;
        while b > 0 && x.confidence <= b as f64 / nb {
            b -= 1;
        }
        while b + 1 < n_bins && x.confidence > (b + 1) as f64 / nb {
            b += 1;
        }
        count[b] += 1;
        hit[b] += (x.pred == x.label) as usize;
        conf[b] += x.confidence;
    }
    (0..n_bins)
        .map(|b| Bin {
            lower: b as f64 / n_bins as f64,
            upper: (b + 1) as f64 / n_bins as f64,
            count: count[b],
            accuracy: if count[b] > 0 {
                hit[b] as f64 / count[b] as f64
            } else {
                0.0
            },
            confidence: if count[b] > 0 {
                conf[b] / count[b] as f64
            } else {
                0.0
            },
        })
        .collect()
}

/// Expected calibration error, percent.
pub fn ece(bins: &[Bin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    100.0
        * bins
            .iter()
            .map(|b| (b.accuracy - b.confidence).abs() * b.count as f64)
            .sum::<f64>()
        / n as f64
}

/// Maximum calibration error over non-empty bins, percent.
pub fn mce(bins: &[Bin]) -> f64 {
    100.0
        * bins
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.accuracy - b.confidence).abs())
            .fold(0.0, f64::max)
}

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
}

impl Metrics {
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
        })
    }

    /// Writes pretty JSON to `path` atomically (temp file in the same directory, then rename).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(path, text.as_bytes())
    }
}

/// Atomic write shared with the data side (temp file, sync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(lt_data::manifest::write_atomic(path, bytes)?)
}

/// Draws a reliability diagram: per-bin accuracy bars against the diagonal (perfect
/// calibration), the gap to the bin's mean confidence shaded red; written as PNG atomically.
pub fn write_reliability_png(bins: &[Bin], path: &Path) -> Result<()> {
    use image::{Rgb, RgbImage};
    const W: u32 = 480;
    const H: u32 = 480;
    const M: u32 = 40; // margin
    let plot = W - 2 * M;
    let mut img = RgbImage::from_pixel(W, H, Rgb([255, 255, 255]));
    let bar = Rgb([52, 101, 164]);
    let gap = Rgb([239, 41, 41]);
    let gap_light = Rgb([250, 180, 180]);
    let axis = Rgb([0, 0, 0]);
    let grid = Rgb([220, 220, 220]);
    // Plot-space y (0..1) -> pixel row.
    let row = |v: f64| H - M - (v.clamp(0.0, 1.0) * plot as f64).round() as u32;
    let col = |v: f64| M + (v.clamp(0.0, 1.0) * plot as f64).round() as u32;
    for i in 0..=10 {
        let v = i as f64 / 10.0;
        for x in M..=W - M {
            img.put_pixel(x, row(v), grid);
        }
        for y in M..=H - M {
            img.put_pixel(col(v), y, grid);
        }
    }
    for b in bins.iter().filter(|b| b.count > 0) {
        let (x0, x1) = (
            col(b.lower) + 1,
            col(b.upper).saturating_sub(1).max(col(b.lower) + 1),
        );
        let (acc_row, conf_row) = (row(b.accuracy), row(b.confidence));
        for x in x0..=x1 {
            for y in acc_row..=H - M {
                img.put_pixel(x, y, bar);
            }
            // Gap between accuracy and confidence: hatched when over-confident, light otherwise.
            let (top, bottom) = (acc_row.min(conf_row), acc_row.max(conf_row));
            for y in top..=bottom {
                let c = if (x + y) % 4 < 2 { gap } else { gap_light };
                img.put_pixel(x, y, c);
            }
        }
    }
    // Diagonal: perfect calibration.
    for i in 0..=plot * 2 {
        let v = i as f64 / (plot * 2) as f64;
        let (x, y) = (col(v), row(v));
        for d in 0..2 {
            img.put_pixel((x + d).min(W - 1), y, Rgb([90, 90, 90]));
        }
    }
    for x in M..=W - M {
        img.put_pixel(x, H - M, axis);
    }
    for y in M..=H - M {
        img.put_pixel(M, y, axis);
    }
    let mut buf = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .map_err(|source| Error::Image {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
    write_atomic(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: i64, pred: i64, confidence: f64) -> Sample {
        Sample {
            label,
            pred,
            top5: true,
            confidence,
            nll: 0.0,
        }
    }

    #[test]
    fn accuracies_from_probabilities() {
        // 3 classes, 4 images.
        let probs = [
            0.7, 0.2, 0.1, // label 0, correct, conf 0.7
            0.1, 0.3, 0.6, // label 1, wrong (pred 2)
            0.2, 0.5, 0.3, // label 1, correct
            0.4, 0.35, 0.25, // label 2, wrong (pred 0)
        ];
        let mut e = Evaluator::new(3);
        e.add_probs(&probs, &[0, 1, 1, 2]).unwrap();
        let s = e.samples();
        assert_eq!(top1(s), 50.0);
        assert_eq!(
            top5(s),
            100.0,
            "fewer than 5 classes: every label is in the top 5"
        );
        let pc = per_class_accuracy(s, 4);
        assert_eq!(pc, vec![Some(100.0), Some(50.0), Some(0.0), None]);
        let want_nll = -(0.7f64.ln() + 0.3f64.ln() + 0.5f64.ln() + 0.25f64.ln()) / 4.0;
        assert!((nll(s) - want_nll).abs() < 1e-6, "{} vs {want_nll}", nll(s));
        let groups = [Shot::Many, Shot::Many, Shot::Few, Shot::Medium];
        // many = mean(100, 50); medium = class 3 has no images -> None; few = 0.
        assert_eq!(
            shot_accuracy(&pc, &groups).unwrap(),
            [Some(75.0), None, Some(0.0)]
        );
        assert!(shot_accuracy(&pc, &groups[..2]).is_err());
    }

    #[test]
    fn top5_with_many_classes() {
        let mut e = Evaluator::new(7);
        // Label 6 is 6th most probable -> not in the top 5; label 4 is 5th -> in.
        let row = [0.3f32, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05];
        let probs: Vec<f32> = row.iter().chain(row.iter()).copied().collect();
        e.add_probs(&probs, &[6, 4]).unwrap();
        assert_eq!(top5(e.samples()), 50.0);
        assert_eq!(top1(e.samples()), 0.0);
    }

    #[test]
    fn ece_on_constructed_example() {
        // Bins of width 1/15. Samples:
        //  conf 0.95 (bin 14), correct x3, wrong x1 -> acc 0.75, conf 0.95, gap 0.20, n 4
        //  conf 0.55 (bin 8: (8/15, 9/15] = (0.533, 0.6]) correct x1, wrong x1 -> acc 0.5,
        //    conf 0.55, gap 0.05, n 2
        //  conf 0.30 (bin 4: (0.267, 0.333]) correct x2 -> acc 1.0, gap 0.70, n 2
        // ECE = (0.20*4 + 0.05*2 + 0.70*2) / 8 = 2.3 / 8 = 0.2875 -> 28.75 %; MCE = 70 %.
        let mut s = vec![sample(0, 0, 0.95); 3];
        s.push(sample(0, 1, 0.95));
        s.push(sample(1, 1, 0.55));
        s.push(sample(1, 0, 0.55));
        s.extend([sample(2, 2, 0.30), sample(2, 2, 0.30)]);
        let bins = reliability_bins(&s, 15);
        assert_eq!(bins.len(), 15);
        assert_eq!((bins[14].count, bins[8].count, bins[4].count), (4, 2, 2));
        assert!((ece(&bins) - 28.75).abs() < 1e-9, "{}", ece(&bins));
        assert!((mce(&bins) - 70.0).abs() < 1e-9);
        // Bin edges: a confidence of exactly 2/15 belongs to bin 1, 1.0 to bin 14.
        let b = reliability_bins(&[sample(0, 0, 2.0 / 15.0), sample(0, 0, 1.0)], 15);
        assert_eq!((b[1].count, b[14].count), (1, 1));
        // Perfect calibration gives 0.
        let perfect: Vec<Sample> = (0..10)
            .map(|i| sample(0, if i < 8 { 0 } else { 1 }, 0.8))
            .collect();
        assert!(ece(&reliability_bins(&perfect, 15)).abs() < 1e-9);
    }

    #[test]
    fn logits_agree_with_probabilities() {
        let logits = Tensor::from_slice2(&[
            [2.0f32, 1.0, 0.0, -1.0, 0.5, 0.2],
            [0.0, 0.0, 3.0, 0.0, 0.0, 0.0],
        ]);
        let labels = Tensor::from_slice(&[1i64, 2]);
        let mut a = Evaluator::new(6);
        a.add_logits(&logits, &labels).unwrap();
        let probs = Vec::<f32>::try_from(logits.softmax(-1, Kind::Float).flatten(0, -1)).unwrap();
        let mut b = Evaluator::new(6);
        b.add_probs(&probs, &[1, 2]).unwrap();
        for (x, y) in a.samples().iter().zip(b.samples()) {
            assert_eq!((x.label, x.pred, x.top5), (y.label, y.pred, y.top5));
            assert!((x.confidence - y.confidence).abs() < 1e-6 && (x.nll - y.nll).abs() < 1e-5);
        }
        let m = a.finish(None).unwrap();
        assert_eq!(m.top1, 50.0);
        assert!(m.many.is_none());
        assert!(a
            .add_logits(&logits, &Tensor::from_slice(&[1i64, 6]))
            .is_err());
        assert!(a.add_logits(&logits, &Tensor::from_slice(&[1i64])).is_err());
    }

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
        for k in [
            "top1",
            "top5",
            "many",
            "medium",
            "few",
            "ece",
            "mce",
            "nll",
            "per_class",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!((v["top1"].as_f64().unwrap() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(v["many"].as_f64(), Some(50.0));
        assert!(v["medium"].is_null());
        let pp = dir.path().join("reliability.png");
        write_reliability_png(&m.bins, &pp).unwrap();
        let img = image::open(&pp).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (480, 480));
        // The bar of bin 13 (conf 0.9, acc 1.0) is filled in blue near the bottom.
        assert_eq!((m.bins[13].count, m.bins[13].accuracy), (1, 1.0));
        let x = 40 + (13.5 / 15.0 * 400.0) as u32;
        assert_eq!(img.get_pixel(x, 480 - 45).0, [52, 101, 164]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        assert!(write_reliability_png(&m.bins, &dir.path().join("no/such/dir.png")).is_err());
    }
}
