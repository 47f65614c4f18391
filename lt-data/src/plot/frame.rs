//! The frame every chart has: a title, axes with ticks, tick labels and a description each, a
//! light grid and a legend, in the bundled font at fixed sizes.

use super::canvas::{Area, DrawResult};
use super::font::FAMILY;
use plotters::chart::{ChartBuilder, ChartContext, MeshStyle, SeriesLabelPosition};
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::{BitMapBackend, Cartesian2d, Rectangle};
use plotters::style::{Color, FontDesc, FontFamily, FontStyle, RGBColor, ShapeStyle, BLACK, WHITE};

/// A chart on the bitmap canvas.
pub type Chart<'a, 'b, X, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>;

/// A chart whose axes both run over `f64`.
pub type Chart2f<'a, 'b> = Chart<'a, 'b, RangedCoordf64, RangedCoordf64>;

/// Title text size, pixels.
pub const TITLE: f64 = 22.0;
/// Axis description size, pixels.
pub const DESC: f64 = 18.0;
/// Tick label and legend size, pixels. Every size is an even number of pixels: plotters 0.3.7
/// places each glyph at `(size / 2 + top) as i32`, which truncates towards zero, so at an odd
/// size a glyph above the baseline and one below it (the decimal point) round in opposite
/// directions and "0.5" draws its point a pixel or two high.
pub const LABEL: f64 = 14.0;

/// The bundled font at `size` pixels.
pub fn font(size: f64) -> FontDesc<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal)
}

/// A chart over `x` and `y` filling `area`, with `title` above it and room for tick labels and
/// axis descriptions.
pub fn chart<'a, 'b, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &'a Area<'b>,
    title: &str,
    x: X,
    y: Y,
) -> Result<Chart<'a, 'b, X::CoordDescType, Y::CoordDescType>, Box<dyn std::error::Error>> {
    Ok(ChartBuilder::on(area)
        .caption(title, font(TITLE))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)?)
}

/// The axes of `chart`, described `x_desc` and `y_desc`, with a light grid; the caller adds
/// label formatters or tick counts and calls `draw`.
pub fn axes<'a, 'c, 'b, X, Y>(
    chart: &'c mut Chart<'a, 'b, X, Y>,
    x_desc: &str,
    y_desc: &str,
) -> MeshStyle<'a, 'c, X, Y, BitMapBackend<'b>>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
{
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(font(DESC))
        .label_style(font(LABEL))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04));
    mesh
}

/// The legend of the series drawn with a label, at `pos`, on a white box.
pub fn legend<'a, 'b: 'a, X: Ranged, Y: Ranged>(
    chart: &mut Chart<'a, 'b, X, Y>,
    pos: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(pos)
        .label_font(font(LABEL))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// A legend key: a small filled square in `style`.
pub fn swatch(style: ShapeStyle) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], style)
}

/// A legend key filled with an opaque colour.
pub fn swatch_of(c: RGBColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    swatch(c.filled())
}

/// `1 class`, `4 classes`: the class count of a legend entry.
pub fn classes(n: usize) -> String {
    match n {
        1 => "1 class".to_string(),
        n => format!("{n} classes"),
    }
}
