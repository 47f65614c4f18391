//! The charts through the real binaries: a run directory gets `reliability.png` and
//! `per_class.png`, `lt-data inspect --plot` the class-count chart; each decodes at its size,
//! with its title drawn, and a chart that cannot be written is one error line naming the file.
mod common;
use common::*;
use std::path::Path;

const NAME: &str = "plots";

fn png(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// Pixels of exactly colour `c`.
fn count(img: &image::RgbImage, c: image::Rgb<u8>) -> usize {
    img.pixels().filter(|p| **p == c).count()
}

/// Dark pixels (text) in the title rows.
fn title_pixels(img: &image::RgbImage) -> usize {
    img.enumerate_pixels()
        .filter(|(_, y, p)| *y < 32 && p.0.iter().all(|&v| v < 100))
        .count()
}

#[test]
fn a_run_writes_the_reliability_diagram_and_per_class_accuracy() {
    let data = dataset(NAME);
    let run = scratch(NAME).join("run");
    assert_ok(&lt_train(&tiny(data, &run, 1)));
    let rel = png(&run.join("reliability.png"));
    assert_eq!(rel.dimensions(), (560, 560));
    assert!(title_pixels(&rel) > 50, "ECE title drawn");
    let pc = png(&run.join("per_class.png"));
    assert_eq!(pc.dimensions(), (720, 520));
    assert!(title_pixels(&pc) > 50, "title drawn");
    // Fashion-MNIST-LT has 3 many-, 4 medium- and 3 few-shot classes, at distinct counts: each
    // group shows its legend key (169 pixels) and at least one more disc of its colour.
    for c in [
        lt_data::plot::MANY,
        lt_data::plot::MEDIUM,
        lt_data::plot::FEW,
    ] {
        let n = count(&pc, c);
        assert!(n > 169 + 80, "{c:?}: {n} pixels");
    }
}

#[test]
fn the_counts_chart_has_its_size_bars_and_title() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("counts.png");
    stdout(&["inspect", s(data), "--plot", s(&out)]);
    let img = png(&out);
    assert_eq!(img.dimensions(), lt_data::plot::counts::SIZE);
    assert!(title_pixels(&img) > 50, "title drawn");
    // Bars of the three groups: far more pixels of each colour than its legend key.
    for c in [
        lt_data::plot::MANY,
        lt_data::plot::MEDIUM,
        lt_data::plot::FEW,
    ] {
        assert!(count(&img, c) > 2000, "{c:?}");
    }
}

#[test]
fn a_chart_that_cannot_be_written_is_one_error_naming_the_file() {
    let data = dataset(NAME);
    let out = scratch(NAME).join("no-such-dir/counts.png");
    let line = fails(&["inspect", s(data), "--plot", s(&out)], &[]);
    assert_eq!(
        line,
        format!(
            "lt-data: {}: No such file or directory (os error 2)",
            out.display()
        )
    );
    assert!(!out.exists());
}
