//! The charts of a run directory, drawn with the shared pieces of `lt_data::plot` (font,
//! shot-group colours, canvas, frame): the reliability diagram (`reliability.png`,
//! reliability.rs) and per-class accuracy against training images (`per_class.png`,
//! per_class.rs).

mod per_class;
mod reliability;

pub use per_class::write_per_class_png;
pub use reliability::write_reliability_png;

use super::{Metrics, Shot};
use crate::Result;
use std::path::Path;

/// Writes both charts of a run into `run_dir`: `reliability.png` from the calibration bins and
/// `per_class.png` from the per-class accuracies, the training images of each class (`counts`)
/// and the shot groups.
pub fn write_plots(m: &Metrics, counts: &[u32], groups: &[Shot], run_dir: &Path) -> Result<()> {
    write_reliability_png(&m.bins, &run_dir.join("reliability.png"))?;
    write_per_class_png(&m.per_class, counts, groups, &run_dir.join("per_class.png"))
}

/// Test helpers: where an exact colour is in an image.
#[cfg(test)]
pub(crate) mod probe {
    /// (x, y) of every pixel of colour `c`.
    pub fn pixels_of(img: &image::RgbImage, c: [u8; 3]) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 == c)
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    /// Dark (text or axis) pixels in rows `rows`.
    pub fn dark_in_rows(img: &image::RgbImage, rows: std::ops::Range<u32>) -> usize {
        img.enumerate_pixels()
            .filter(|(_, y, p)| rows.contains(y) && p.0.iter().all(|&v| v < 100))
            .count()
    }
}
