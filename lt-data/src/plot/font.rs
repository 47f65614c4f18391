//! The bundled font: DejaVu Sans cut down to ASCII (`assets/fonts/DejaVuSans-subset.ttf`, its
//! licence beside it), registered with plotters once as its `sans-serif` family, the family
//! plotters' own labels ask for.

use std::sync::OnceLock;

/// The font file, compiled into the library.
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-subset.ttf");

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

/// Registers the bundled font (normal, bold and italic use the one face) on first use; `Err`
/// (the same on every call) if plotters rejects the file.
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        use plotters::style::{register_font, FontStyle};
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic] {
            register_font(FAMILY, style, FONT)
                .map_err(|_| "the bundled font DejaVuSans-subset.ttf is not a valid font")?;
        }
        Ok(())
    })
    .clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_font_registers_and_lays_out_text() {
        use plotters::style::{FontDesc, FontStyle};
        super::register().unwrap();
        let f = FontDesc::new(super::FAMILY.into(), 20.0, FontStyle::Normal);
        let ((x0, _), (x1, _)) = f
            .box_size("ECE = 6.42%")
            .map(|(w, h)| ((0, 0), (w, h)))
            .unwrap();
        assert!(x1 - x0 > 60, "text has a width: {}", x1 - x0);
    }
}
