//! The per-image outcome an evaluation keeps ([`Sample`]) and the [`Evaluator`] that turns
//! logits or probability rows into samples.

use super::{Metrics, Shot};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
