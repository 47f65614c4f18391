//! The class-count chart of `lt-data inspect --plot`: one bar per class, tallest first, on a
//! log axis (a tail two orders of magnitude below the head stays visible), coloured by shot
//! group, the dataset's name and imbalance ratio in the title.

use super::frame::{self, swatch_of};
use super::{group_colour, group_name, write_png, Area, DrawResult, GROUPS};
use crate::error::{Error, Result};
use crate::recipe::Group;
use plotters::chart::SeriesLabelPosition;
use plotters::coord::combinators::IntoLogRange;
use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::Rectangle;
use plotters::style::Color;
use std::path::Path;

/// Width and height of the chart, pixels.
pub const SIZE: (u32, u32) = (800, 480);

/// The bottom of the log axis: a class of one image still gets a bar.
const FLOOR: f64 = 0.7;

/// Draws the chart of `counts` (training images per class; `groups` gives each class's shot
/// group) for the dataset `name` and writes it to `path` as PNG, atomically.
pub fn counts_png(name: &str, counts: &[u32], groups: &[Group], path: &Path) -> Result<()> {
    if counts.len() != groups.len() || counts.is_empty() {
        return Err(Error::plot(
            path,
            format!("{} classes but {} shot groups", counts.len(), groups.len()),
        ));
    }
    write_png(path, SIZE, |area| draw(area, name, counts, groups))
}

/// `NAME: imbalance ratio 100 (6000 / 60)`; a class without images makes the ratio undefined.
pub fn title(name: &str, counts: &[u32]) -> String {
    let max = counts.iter().copied().max().unwrap_or(0);
    match counts.iter().copied().min().unwrap_or(0) {
        0 => format!("{name}: a class has no training images"),
        min => {
            let r = max as f64 / min as f64;
            let r = if (r - r.round()).abs() < 0.05 {
                format!("{r:.0}")
            } else {
                format!("{r:.1}")
            };
            format!("{name}: imbalance ratio {r} ({max} / {min})")
        }
    }
}

fn draw(area: &Area, name: &str, counts: &[u32], groups: &[Group]) -> DrawResult {
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(counts[c]));
    let k = counts.len() as u32;
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let y = (FLOOR..max * 1.8).log_scale();
    // Segments 0..=k-1: one per class, no empty one after the last.
    let x = (0..k.saturating_sub(1).max(1)).into_segmented();
    let mut chart = frame::chart(area, &title(name, counts), x, y)?;
    // Few classes: each bar is labelled with its class index; many: ticks count ranks.
    let by_index = k <= 20;
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(r) if by_index => order
            .get(*r as usize)
            .map_or(String::new(), |c| c.to_string()),
        SegmentValue::CenterOf(r) | SegmentValue::Exact(r) => r.to_string(),
        SegmentValue::Last => String::new(),
    };
    let x_desc = if by_index {
        "class index, sorted by training images"
    } else {
        "class rank by training images"
    };
    frame::axes(&mut chart, x_desc, "training images (log scale)")
        .x_labels(k.min(20) as usize)
        .x_label_formatter(&label)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()?;
    let gap = if k <= 200 { 2 } else { 0 };
    for g in GROUPS {
        let n = groups.iter().filter(|&&x| x == g).count();
        if n == 0 {
            continue;
        }
        let colour = group_colour(g);
        let bars = order
            .iter()
            .enumerate()
            .filter(|(_, &c)| groups[c] == g && counts[c] > 0);
        chart
            .draw_series(bars.map(|(rank, &c)| {
                let (x0, x1) = (
                    SegmentValue::Exact(rank as u32),
                    SegmentValue::Exact(rank as u32 + 1),
                );
                let mut bar =
                    Rectangle::new([(x0, FLOOR), (x1, counts[c] as f64)], colour.filled());
                bar.set_margin(0, 0, gap, gap);
                bar
            }))?
            .label(format!("{} ({})", group_name(g), frame::classes(n)))
            .legend(swatch_of(colour));
    }
    frame::legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::canvas::render;
    use crate::plot::{FEW, MANY, MEDIUM};

    /// Rows of the image holding `c` in the column range of the plot body.
    fn rows_of(img: &image::RgbImage, c: image::Rgb<u8>) -> (u32, u32) {
        let ys: Vec<u32> = img
            .enumerate_pixels()
            .filter(|(x, _, p)| *x > 100 && **p == c)
            .map(|(_, y, _)| y)
            .collect();
        (*ys.iter().min().unwrap(), *ys.iter().max().unwrap())
    }

    #[test]
    fn bars_are_sorted_coloured_by_group_and_log_scaled() {
        let (counts, groups) = ([10, 100, 50], [Group::Few, Group::Many, Group::Medium]);
        let img = render(SIZE, |a| draw(a, "toy", &counts, &groups)).unwrap();
        assert_eq!(img.dimensions(), SIZE);
        // Bar heights (from the common base line) go as log(count / FLOOR); the legend's
        // swatches, in the upper right corner (x > 540, y < 150), are left out.
        let base = rows_of(&img, MANY).1;
        let h = |c: image::Rgb<u8>| {
            let ys: Vec<u32> = img
                .enumerate_pixels()
                .filter(|(x, y, p)| !(*x > 540 && *y < 150) && **p == c)
                .map(|(_, y, _)| y)
                .collect();
            (base - ys.iter().min().unwrap() + 1) as f64
        };
        let want = |n: f64| (n / FLOOR).ln() / (100.0 / FLOOR).ln();
        for (c, n) in [(MEDIUM, 50.0), (FEW, 10.0)] {
            let got = h(c) / h(MANY);
            assert!(
                (got - want(n)).abs() < 0.02,
                "{n}: {got} against {}",
                want(n)
            );
        }
        // The title is drawn: dark text pixels in the top 30 rows.
        let text = img
            .enumerate_pixels()
            .filter(|(_, y, p)| *y < 30 && p.0.iter().all(|&v| v < 100))
            .count();
        assert!(text > 50, "{text} title pixels");
    }

    #[test]
    fn title_names_the_dataset_and_ratio() {
        assert_eq!(
            title("fmnist", &[6000, 60, 100]),
            "fmnist: imbalance ratio 100 (6000 / 60)"
        );
        assert_eq!(title("x", &[7, 2]), "x: imbalance ratio 3.5 (7 / 2)");
        assert_eq!(title("x", &[7, 0]), "x: a class has no training images");
    }

    #[test]
    fn a_bad_path_or_group_map_is_one_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/c.png");
        let e = counts_png("x", &[3, 1], &[Group::Many, Group::Few], &p)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("{}: No such file or directory (os error 2)", p.display())
        );
        let p = dir.path().join("c.png");
        let e = counts_png("x", &[3, 1], &[Group::Many], &p)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: cannot draw the chart: 2 classes but 1 shot groups",
                p.display()
            )
        );
        assert!(!p.exists());
        counts_png("x", &[3, 1], &[Group::Many, Group::Few], &p).unwrap();
        assert_eq!(image::open(&p).unwrap().to_rgb8().dimensions(), SIZE);
    }
}
