//! The class-count bar chart of `lt-data inspect --plot`: classes sorted by training images,
//! bars coloured by shot group (many blue, medium orange, few red), drawn without a font.

use crate::error::{Error, Result};
use crate::recipe::Group;
use image::{Rgb, RgbImage};
use std::path::Path;

pub const MANY: Rgb<u8> = Rgb([31, 119, 180]);
pub const MEDIUM: Rgb<u8> = Rgb([255, 127, 14]);
pub const FEW: Rgb<u8> = Rgb([214, 39, 40]);

fn colour(g: Group) -> Rgb<u8> {
    match g {
        Group::Many => MANY,
        Group::Medium => MEDIUM,
        Group::Few => FEW,
    }
}

/// Draws the sorted class-count chart (linear axis) and writes it as PNG, atomically.
pub fn counts_png(counts: &[u32], groups: &[Group], path: &Path) -> Result<()> {
    let img = counts_image(counts, groups);
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::invalid(format!("{}: PNG encoding failed: {e}", path.display())))?;
    crate::manifest::write_atomic(path, &bytes)
}

/// The chart as an image: one bar per class, tallest first, on a white canvas with axes.
pub fn counts_image(counts: &[u32], groups: &[Group]) -> RgbImage {
    let k = counts.len().max(1) as u32;
    let bar = (800 / k).clamp(1, 40);
    let (margin, plot_h) = (40u32, 400u32);
    let (w, h) = (k * bar + 2 * margin, plot_h + 2 * margin);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(counts[c]));
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    for (x, &c) in order.iter().enumerate() {
        let height = ((counts[c] as f64 / max) * plot_h as f64).round() as u32;
        let x0 = margin + x as u32 * bar;
        let gap = u32::from(bar > 2);
        for px in x0..x0 + bar - gap {
            for py in (margin + plot_h - height)..(margin + plot_h) {
                img.put_pixel(px, py, colour(groups[c]));
            }
        }
    }
    for x in margin - 1..w - margin {
        img.put_pixel(x, margin + plot_h, Rgb([0, 0, 0]));
    }
    for y in margin..=margin + plot_h {
        img.put_pixel(margin - 1, y, Rgb([0, 0, 0]));
    }
    // Legend: many / medium / few swatches, top right.
    for (i, g) in [Group::Many, Group::Medium, Group::Few]
        .into_iter()
        .enumerate()
    {
        let x0 = w - margin - 3 * 18 + i as u32 * 18;
        for px in x0..x0 + 12 {
            for py in 12..24 {
                img.put_pixel(px, py, colour(g));
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_sorted_and_coloured_by_group() {
        let img = counts_image(&[10, 100, 50], &[Group::Few, Group::Many, Group::Medium]);
        // Bar 0 (tallest, class 1) is full height and blue; bar 2 (class 0) is a tenth and red.
        let bar = 40; // (800 / 3) capped at 40 pixels a bar
        let base = 40 + 400 - 1;
        assert_eq!(*img.get_pixel(40, 41), MANY);
        assert_eq!(*img.get_pixel(40 + bar, base - 150), MEDIUM);
        assert_eq!(*img.get_pixel(40 + bar, base - 250), Rgb([255, 255, 255]));
        assert_eq!(*img.get_pixel(40 + 2 * bar, base - 30), FEW);
        assert_eq!(
            *img.get_pixel(40 + 2 * bar, base - 50),
            Rgb([255, 255, 255])
        );
    }
}
