//! Per-class accuracy against training images: one point per class at (training images of the
//! class, log scale; its test accuracy), coloured by shot group, each group's mean accuracy in
//! the legend. Classes without test images are left out.

use crate::metrics::Shot;
use crate::Result;
use lt_data::plot::frame::{self, swatch_of};
use lt_data::plot::{group_colour, group_name, write_png, Area, DrawResult, GROUPS};
use plotters::chart::SeriesLabelPosition;
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::Circle;
use plotters::style::Color;
use std::path::Path;

/// Width and height of the chart, pixels.
pub const SIZE: (u32, u32) = (720, 520);

/// The top of the accuracy axis, percent: the legend's band starts above 100.
const TOP: f64 = 130.0;

/// Draws the accuracy of each class (`per_class`, percent, `None` without test images) against
/// its training images (`counts`), coloured by `groups`, and writes it to `path` as PNG,
/// atomically.
pub fn write_per_class_png(
    per_class: &[Option<f64>],
    counts: &[u32],
    groups: &[Shot],
    path: &Path,
) -> Result<()> {
    let k = per_class.len();
    if counts.len() != k || groups.len() != k {
        let msg = format!(
            "{k} per-class accuracies, {} class counts, {} shot groups",
            counts.len(),
            groups.len()
        );
        return Err(lt_data::Error::plot(path, msg).into());
    }
    Ok(write_png(path, SIZE, |area| {
        draw(area, per_class, counts, groups)
    })?)
}

fn draw(area: &Area, per_class: &[Option<f64>], counts: &[u32], groups: &[Shot]) -> DrawResult {
    let (lo, hi) = counts
        .iter()
        .fold((u32::MAX, 1), |(lo, hi), &c| (lo.min(c.max(1)), hi.max(c)));
    let x = (lo.min(hi) as f64 / 1.5..hi as f64 * 1.5).log_scale();
    let title = "Per-class accuracy against training images";
    // The band above 100% holds the legend, so no point is ever under it.
    let mut chart = frame::chart(area, title, x, -2.0..TOP)?;
    frame::axes(
        &mut chart,
        "training images of the class (log scale)",
        "test accuracy (%)",
    )
    .x_label_formatter(&|v| format!("{v:.0}"))
    .y_label_formatter(&|v| match *v <= 100.5 {
        true => format!("{v:.0}"),
        false => String::new(),
    })
    .draw()?;
    let radius = if per_class.len() > 100 { 3 } else { 6 };
    for g in GROUPS {
        let points: Vec<(f64, f64)> = (0..per_class.len())
            .filter(|&c| groups[c] == g)
            .filter_map(|c| per_class[c].map(|a| (counts[c].max(1) as f64, a)))
            .collect();
        if points.is_empty() {
            continue;
        }
        let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
        let colour = group_colour(g);
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, radius, colour.filled())),
            )?
            .label(format!(
                "{} ({}, mean {mean:.1}%)",
                group_name(g),
                frame::classes(points.len())
            ))
            .legend(swatch_of(colour));
    }
    frame::legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::plots::probe::{dark_in_rows, pixels_of};
    use lt_data::plot::{FEW, MANY, MEDIUM};

    /// The centre of the pixels of colour `c` below row 120 (the legend sits higher, above
    /// 100%), which must be one disc of radius 6.
    fn centre(img: &image::RgbImage, c: image::Rgb<u8>) -> (f64, f64) {
        let ps: Vec<(u32, u32)> = pixels_of(img, c.0)
            .into_iter()
            .filter(|p| p.1 > 120)
            .collect();
        assert!(
            (80..150).contains(&ps.len()),
            "{} pixels of {c:?}",
            ps.len()
        );
        let n = ps.len() as f64;
        (
            ps.iter().map(|p| p.0 as f64).sum::<f64>() / n,
            ps.iter().map(|p| p.1 as f64).sum::<f64>() / n,
        )
    }

    #[test]
    fn points_sit_at_log_counts_and_accuracies() {
        // Three classes, one per group: 1000 images at 90%, 100 at 65%, 10 at 40%; a fourth
        // without test images is not drawn.
        let counts = [1000, 100, 10, 5];
        let groups = [Shot::Many, Shot::Medium, Shot::Few, Shot::Few];
        let acc = [Some(90.0), Some(65.0), Some(40.0), None];
        let img = lt_data::plot::canvas::render(SIZE, |a| draw(a, &acc, &counts, &groups)).unwrap();
        assert_eq!(img.dimensions(), SIZE);
        let (m, d, f) = (centre(&img, MANY), centre(&img, MEDIUM), centre(&img, FEW));
        // Equal steps in log count are equal steps in x; accuracy is linear in y.
        assert!(((d.0 - f.0) - (m.0 - d.0)).abs() < 2.0, "{m:?} {d:?} {f:?}");
        assert!(((f.1 - d.1) - (d.1 - m.1)).abs() < 2.0, "{m:?} {d:?} {f:?}");
        assert!(m.0 > d.0 && d.0 > f.0 && m.1 < d.1 && d.1 < f.1);
        assert!(dark_in_rows(&img, 0..32) > 50, "title text");
    }

    #[test]
    fn mismatched_inputs_are_one_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("per_class.png");
        let e = write_per_class_png(&[Some(1.0)], &[3, 4], &[Shot::Many], &p).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot draw the chart: 1 per-class accuracies, 2 class counts, 1 shot groups",
                p.display()
            )
        );
        assert!(!p.exists());
    }
}
