//! Charts as PNG files, drawn with `plotters` on a bitmap and text in the bundled DejaVu Sans
//! (`assets/fonts`, compiled in: no system fonts at run time).
//!
//! The pieces every chart shares live here, once: the font ([`font`]), the shot-group colours
//! ([`colour`]), the canvas that renders and writes a PNG atomically ([`canvas`]) and the chart
//! frame: title, axes, ticks, labels, legend ([`frame`]). One file per chart: the class-count
//! chart of `lt-data inspect --plot` ([`counts`]); lt-core draws the reliability diagram and the
//! per-class accuracy chart of a run with the same pieces.

pub mod canvas;
pub mod colour;
pub mod counts;
mod font;
pub mod frame;

pub use canvas::{write_png, Area, DrawResult};
pub use colour::{group_colour, group_name, FEW, GROUPS, MANY, MEDIUM};
pub use counts::counts_png;
