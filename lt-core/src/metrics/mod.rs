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
//!
//! One file per concept: [`Sample`] and [`Evaluator`] (sample.rs), accuracies (accuracy.rs),
//! shot groups (shots.rs), calibration (calibration.rs), the summary [`Metrics`] (summary.rs)
//! and the charts of a run directory: the reliability diagram and per-class accuracy against
//! training images (plots/); relative accuracy against an upper reference (relative.rs).

mod accuracy;
mod calibration;
mod plots;
pub mod relative;
mod sample;
mod shots;
mod summary;

pub use accuracy::{per_class_accuracy, top1, top5};
pub use calibration::{ece, mce, nll, reliability_bins, Bin, ECE_BINS};
pub use plots::{write_per_class_png, write_plots, write_reliability_png};
pub use relative::UpperReference;
pub use sample::{Evaluator, Sample};
pub use shots::{shot_accuracy, Shot};
pub use summary::Metrics;

use crate::Result;
use std::path::Path;

/// Atomic write shared with the data side (temp file, sync, rename).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(lt_data::manifest::write_atomic(path, bytes)?)
}
