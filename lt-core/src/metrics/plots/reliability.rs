//! The reliability diagram, as in the MiSLAS paper's figures: one bar per confidence bin at the
//! bin's accuracy, a translucent red bar from there to the bin's mean confidence (the gap), the
//! diagonal of perfect calibration, a legend, and the ECE in the title. Empty bins are not drawn.

use crate::metrics::{ece, mce, Bin};
use crate::Result;
use lt_data::plot::frame::{self, swatch, swatch_of};
use lt_data::plot::{write_png, Area, DrawResult};
use plotters::chart::SeriesLabelPosition;
use plotters::prelude::{LineSeries, Rectangle};
use plotters::style::{Color, RGBColor, ShapeStyle, BLACK};
use std::path::Path;

/// Width and height of the diagram, pixels.
pub const SIZE: (u32, u32) = (560, 560);
/// The accuracy bars.
pub const BAR: RGBColor = RGBColor(31, 119, 180);
/// The gap bars: this red at [`GAP_ALPHA`] over what lies below.
pub const GAP: RGBColor = RGBColor(214, 39, 40);
pub const GAP_ALPHA: f64 = 0.35;

/// Draws the reliability diagram of `bins` and writes it to `path` as PNG, atomically.
pub fn write_reliability_png(bins: &[Bin], path: &Path) -> Result<()> {
    Ok(write_png(path, SIZE, |area| draw(area, bins))?)
}

fn draw(area: &Area, bins: &[Bin]) -> DrawResult {
    let title = format!("ECE = {:.2}%, MCE = {:.2}%", ece(bins), mce(bins));
    let mut chart = frame::chart(area, &title, 0.0..1.0, 0.0..1.0)?;
    frame::axes(&mut chart, "confidence", "accuracy")
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    let full = bins.iter().filter(|b| b.count > 0);
    chart
        .draw_series(full.clone().map(|b| bar(b, b.accuracy, 0.0, BAR.filled())))?
        .label("Outputs")
        .legend(swatch_of(BAR));
    let gap = GAP.mix(GAP_ALPHA).filled();
    chart
        .draw_series(full.map(|b| bar(b, b.confidence, b.accuracy, gap)))?
        .label("Gap")
        .legend(swatch(gap));
    let diagonal = ShapeStyle::from(BLACK.mix(0.6)).stroke_width(2);
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], diagonal))?
        .label("Perfect calibration")
        .legend(move |(x, y)| plotters::element::PathElement::new([(x, y), (x + 12, y)], diagonal));
    frame::legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// The rectangle over bin `b` between heights `y0` and `y1`, one pixel in from each side.
fn bar(b: &Bin, y0: f64, y1: f64, style: ShapeStyle) -> Rectangle<(f64, f64)> {
    let mut r = Rectangle::new([(b.lower, y0), (b.upper, y1)], style);
    r.set_margin(0, 0, 1, 1);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::plots::probe::{dark_in_rows, pixels_of};

    fn bin(i: usize, count: usize, accuracy: f64, confidence: f64) -> Bin {
        let (lower, upper) = (i as f64 / 15.0, (i + 1) as f64 / 15.0);
        Bin {
            lower,
            upper,
            count,
            accuracy,
            confidence,
        }
    }

    #[test]
    fn bars_have_the_bin_accuracy_and_the_gap_reaches_the_confidence() {
        // Bin 13: accuracy 1.0 (the full height); bin 7: accuracy 0.2, confidence 0.5; the
        // others are empty and draw nothing.
        let bins: Vec<Bin> = (0..15)
            .map(|i| match i {
                13 => bin(i, 4, 1.0, 0.9),
                7 => bin(i, 5, 0.2, 0.5),
                _ => bin(i, 0, 0.0, 0.0),
            })
            .collect();
        let img = lt_data::plot::canvas::render(SIZE, |a| draw(a, &bins)).unwrap();
        assert_eq!(img.dimensions(), SIZE);
        let blue = pixels_of(&img, [BAR.0, BAR.1, BAR.2]);
        // Two bars (the legend swatch sits in the upper left, left of both).
        let cut = img.width() / 2;
        let bar_of = |lo: u32, hi: u32| -> Vec<(u32, u32)> {
            blue.iter()
                .copied()
                .filter(|(x, _)| (lo..hi).contains(x))
                .collect()
        };
        let (p13, p7) = (bar_of(cut + 100, img.width()), bar_of(cut - 40, cut + 100));
        let ys = |v: &[(u32, u32)]| v.iter().map(|p| p.1).collect::<Vec<_>>();
        let (b13, b7) = (ys(&p13), ys(&p7));
        let base = *b13.iter().max().unwrap();
        let top13 = *b13.iter().min().unwrap();
        let top7 = *b7.iter().min().unwrap();
        assert_eq!(base, *b7.iter().max().unwrap(), "one base line");
        // Bin 13's gap (confidence 0.9 to accuracy 1.0) covers its bar's top tenth: blue to 0.9.
        let h = (base - top13 + 1) as f64 / 0.9;
        let ratio = (base - top7 + 1) as f64 / h;
        assert!(
            (ratio - 0.2).abs() < 0.01,
            "bin 7 is 0.2 of the full height: {ratio}"
        );
        // Halfway up the gap of bin 7 (0.35): translucent red, neither white nor blue.
        let xs = |v: &[(u32, u32)]| {
            (
                v.iter().map(|p| p.0).min().unwrap(),
                v.iter().map(|p| p.0).max().unwrap(),
            )
        };
        let ((l7, r7), (l13, r13)) = (xs(&p7), xs(&p13));
        assert!(
            (r7 - l7).abs_diff(r13 - l13) <= 1,
            "bars of one width (to rounding)"
        );
        let x7 = (l7 + r7) / 2;
        // Bins are 15 equal widths: 6 bins from the centre of bin 7 to that of bin 13.
        let bin_px = ((l13 + r13) / 2 - x7) as f64 / 6.0;
        assert!(
            (bin_px - (r7 - l7 + 3) as f64).abs() <= 1.5,
            "bin width {bin_px}"
        );
        let y = base - (0.35 * h) as u32;
        let p = img.get_pixel(x7, y).0;
        assert!(
            p[0] > 200 && p[1] < 200 && p[2] < 200,
            "gap colour at ({x7}, {y}): {p:?}"
        );
        // Empty bin 3: only background and the light grid at a tenth of the height.
        let x3 = x7 - (4.0 * bin_px) as u32;
        let p = img.get_pixel(x3, base - (0.1 * h) as u32).0;
        assert!(p.iter().all(|&v| v > 200), "empty bin is not drawn: {p:?}");
        assert!(dark_in_rows(&img, 0..32) > 50, "title text");
    }
}
