//! The canvas every chart is drawn on: a white RGB bitmap in memory, encoded as PNG with
//! `image` and written atomically, so a failed chart leaves no file that looks valid.

use super::font;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea, WHITE};
use std::path::Path;

/// The drawing area a chart draws on.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What a chart's drawing code returns: plotters' errors, boxed.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws a `w` x `h` chart with `draw` and writes it to `path` as PNG, atomically. Errors name
/// `path`: `PATH: cannot draw the chart: ...`, or the write's own error.
pub fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> Result<()> {
    let img = render((w, h), draw).map_err(|msg| Error::plot(path, msg))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::plot(path, format!("PNG encoding failed: {e}")))?;
    // The write's errors name the chart, not the temporary file beside it.
    crate::manifest::write_atomic(path, &bytes).map_err(|e| match e {
        Error::Io { err, .. } => Error::io(path, err),
        e => e,
    })
}

/// Draws the chart into an image (what [`write_png`] encodes; tests read its pixels).
pub fn render(
    (w, h): (u32, u32),
    draw: impl FnOnce(&Area) -> DrawResult,
) -> std::result::Result<image::RgbImage, String> {
    font::register()?;
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&area).map_err(|e| e.to_string())?;
        area.present().map_err(|e| e.to_string())?;
    }
    image::RgbImage::from_raw(w, h, buf).ok_or_else(|| "bitmap of the wrong size".to_string())
}
