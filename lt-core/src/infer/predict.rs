//! Predictions of a trained model for image files: logits as the run's evaluation computes
//! them (backbone, head, post-hoc adjustment) and their softmax probabilities.

use super::csv;
use super::images::{self, Preprocess};
use crate::train::Trained;
use crate::{Error, Result};
use std::path::PathBuf;
use tch::{Device, Kind};

/// What `lt-train predict` is asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// Image files and directories (walked for image files, sorted).
    pub inputs: Vec<PathBuf>,
    /// Most probable classes per image; `None`: 5, or every class when there are fewer.
    pub top_k: Option<usize>,
    /// One column per class with the raw logits.
    pub logits: bool,
}

/// One image's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub path: PathBuf,
    /// Logits, one per class (float32, as the model computes them).
    pub logits: Vec<f32>,
    /// Softmax of the logits, computed in float64.
    pub probs: Vec<f64>,
}

/// The CSV `lt-train predict` writes for `req` (see [`csv::render`]). Nothing is returned
/// unless every image decoded.
pub fn predict_csv(t: &mut Trained, req: &Request) -> Result<String> {
    let k = top_k(req.top_k, t.manifest().num_classes)?;
    let files = images::list(&req.inputs)?;
    let preds = predict(t, &files)?;
    Ok(csv::render(
        &preds,
        &t.manifest().class_names,
        k,
        req.logits,
    ))
}

/// The number of classes to list: as asked, at most the model's class count.
pub fn top_k(asked: Option<usize>, classes: usize) -> Result<usize> {
    match asked {
        None => Ok(classes.min(5)),
        Some(k) if k == 0 || k > classes => Err(Error::Usage(format!(
            "--top-k {k}: the model has {classes} classes (1 to {classes})"
        ))),
        Some(k) => Ok(k),
    }
}

/// Predictions for the image files `paths`, in their order, batched as evaluation batches.
pub fn predict(t: &mut Trained, paths: &[PathBuf]) -> Result<Vec<Prediction>> {
    let prep = Preprocess::new(t.eval_layout(), t.eval_augment()?, t.manifest().max_side);
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(t.eval_batch_size()) {
        let x = prep.batch(chunk)?;
        let logits = t.logits(&x)?.f_to_kind(Kind::Float)?;
        let probs = logits
            .f_to_kind(Kind::Double)?
            .f_softmax(-1, Kind::Double)?;
        let rows = |t: tch::Tensor| t.f_to_device(Device::Cpu)?.f_flatten(0, -1);
        let logits = Vec::<f32>::try_from(rows(logits)?)?;
        let probs = Vec::<f64>::try_from(rows(probs)?)?;
        let k = logits.len() / chunk.len().max(1);
        for (i, path) in chunk.iter().enumerate() {
            out.push(Prediction {
                path: path.clone(),
                logits: logits[i * k..(i + 1) * k].to_vec(),
                probs: probs[i * k..(i + 1) * k].to_vec(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::top_k;

    #[test]
    fn top_k_defaults_to_five_at_most_and_stays_within_the_classes() {
        assert_eq!(top_k(None, 10).unwrap(), 5);
        assert_eq!(top_k(None, 3).unwrap(), 3);
        assert_eq!(top_k(Some(10), 10).unwrap(), 10);
        for k in [0, 11] {
            let e = top_k(Some(k), 10).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--top-k {k}: the model has 10 classes (1 to 10)")
            );
        }
    }
}
