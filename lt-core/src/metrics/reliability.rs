//! The reliability diagram as a PNG: per-bin accuracy against the diagonal of perfect
//! calibration.

use super::{write_atomic, Bin};
use crate::{Error, Result};
use std::path::Path;

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
