//! Whether a checkpoint's model fits a dataset, checked before any weight is copied so that the
//! error says what differs: the class count (the linear head's rows), the input channels (the
//! stem convolution's) and the input size the model was trained at (read from the dataset the
//! run trained on, while that is still there: a ResNet takes any size, so its tensors cannot
//! tell).

use crate::checkpoint::Checkpoint;
use crate::{Error, Result};
use lt_data::augment::Augment;
use lt_data::format::{Encoding, Layout};
use lt_data::manifest::Manifest;
use std::path::Path;

/// The linear head's weight, `[classes, features]` (built for every model, plugin head or not).
const HEAD_WEIGHT: &str = "head.weight";
/// The stem convolution's weight, `[out, in_channels, k, k]` (every backbone family).
const STEM_WEIGHT: &str = "backbone.conv1.weight";

/// What a model takes in: channels, height, width.
type Input = (usize, usize, usize);

/// Refuses a checkpoint (`path`) whose model was built for other classes, channels or image
/// size than the dataset `dir` (manifest `m`) holds.
pub fn check(path: &Path, ck: &Checkpoint, dir: &Path, m: &Manifest) -> Result<()> {
    let refuse = |model: String, data: String| {
        Err(Error::Checkpoint(format!(
            "{}: the model {model}, but dataset {} {data}",
            path.display(),
            dir.display()
        )))
    };
    if let Some(k) = dim(ck, HEAD_WEIGHT, 0) {
        if k != m.num_classes {
            return refuse(format!("has {k} classes"), format!("has {}", m.num_classes));
        }
    }
    let Some(input) = model_input(m) else {
        return Ok(());
    };
    if let Some(c) = dim(ck, STEM_WEIGHT, 1) {
        if c != input.0 {
            return refuse(
                format!("takes {c}-channel images"),
                format!("gives {}-channel images", input.0),
            );
        }
    }
    let trained_on = ck.meta.config.get("dataset").and_then(|d| d.as_str());
    let Some(orig) = trained_on.filter(|d| Path::new(d) != dir) else {
        return Ok(());
    };
    let orig_input = Manifest::load(Path::new(orig))
        .ok()
        .and_then(|om| model_input(&om));
    match orig_input {
        Some((_, h, w)) if (h, w) != (input.1, input.2) => refuse(
            format!("was trained on {h}x{w} images (dataset {orig})"),
            format!("gives {}x{} images", input.1, input.2),
        ),
        _ => Ok(()),
    }
}

/// Dimension `d` of the saved model tensor `name`, if the checkpoint has it.
fn dim(ck: &Checkpoint, name: &str, d: usize) -> Option<usize> {
    let (_, t) = ck.model.iter().find(|(n, _)| n == name)?;
    t.size().get(d).map(|&x| x as usize)
}

/// The images a dataset's evaluation transform gives the model: raw splits at their stored
/// size (`cifar`), a fixed crop (`imagenet`).
fn model_input(m: &Manifest) -> Option<Input> {
    let info = m.split("train")?;
    let layout = match (info.storage.as_str(), info.shape) {
        ("raw", Some([height, width, channels])) => Layout::Raw {
            height,
            width,
            channels,
        },
        ("png", _) => Layout::Encoded(Encoding::Png),
        _ => Layout::Encoded(Encoding::Jpeg),
    };
    let (h, w, c) = Augment::for_pipeline(m.augment, false)
        .out_shape(layout)
        .ok()?;
    Some((c, h, w))
}
