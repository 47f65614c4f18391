//! JPEG and PNG decoding.
//!
//! Two decoders for two jobs:
//! - the loader's ([`decode_jpeg`], [`decode_png`], [`source_dims`]): lenient, libjpeg-turbo
//!   (SIMD), at a reduced DCT scale (1/2, 1/4, 1/8) when the crop is at least twice the
//!   target ([`reduction`]); errors are [`DecodeError`]s;
//! - the builder's ([`decode_rgb`]): strict (a stream that ends early is an error), refusing
//!   an image whose header declares more than `max_pixels` before any pixel buffer exists;
//!   errors name the source file.

use super::error::DecodeError;
use super::turbo;
use crate::error::{Error, Result};
use crate::format::{Encoding, Layout};
use std::path::Path;

/// Width and height of a sample without decoding its pixels.
pub fn source_dims(sample: &[u8], layout: Layout) -> Result<(usize, usize), DecodeError> {
    match layout {
        Layout::Raw { height, width, .. } => Ok((width as usize, height as usize)),
        Layout::Encoded(Encoding::Jpeg) => {
            let hd = turbo::header(sample)?;
            Ok((hd.width, hd.height))
        }
        Layout::Encoded(Encoding::Png) => {
            let r = ::image::ImageReader::with_format(
                std::io::Cursor::new(sample),
                ::image::ImageFormat::Png,
            );
            r.into_dimensions()
                .map(|(w, h)| (w as usize, h as usize))
                .map_err(|e| DecodeError::CorruptPng(e.to_string()))
        }
    }
}

/// Largest IDCT reduction (1, 2, 4 or 8) that keeps a crop of `ratio` source pixels an output
/// pixel at least as large as the output.
pub fn reduction(ratio: f64) -> usize {
    turbo::Scale::smallest_covering(|s| ratio >= s.denom as f64).denom
}

/// Decodes a JPEG into `buf` as RGB, reduced by `reduce` (1, 2, 4 or 8) in the DCT domain;
/// returns decoded width, height, channels (3) and the full-resolution width and height.
/// libjpeg-turbo (SIMD, also at the reduced scales), leniently: a truncated or damaged stream
/// keeps what decoded, as PIL does. CMYK JPEGs, which TurboJPEG cannot convert, go through
/// zune-jpeg at full size.
pub fn decode_jpeg(
    bytes: &[u8],
    reduce: usize,
    buf: &mut Vec<u8>,
) -> Result<(usize, usize, usize, usize, usize), DecodeError> {
    let hd = turbo::header(bytes)?;
    if hd.cmyk {
        return decode_jpeg_zune(bytes, buf);
    }
    let scale = turbo::Scale {
        num: 1,
        denom: reduce.clamp(1, 8),
    };
    let (w, h) = turbo::decode_rgb(bytes, hd, scale, false, buf)?;
    Ok((w, h, 3, hd.width, hd.height))
}

/// [`decode_jpeg`] at full size through zune-jpeg (which converts CMYK).
fn decode_jpeg_zune(
    bytes: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(usize, usize, usize, usize, usize), DecodeError> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let bad = |e: &dyn std::fmt::Debug| DecodeError::CorruptJpeg(format!("{e:?}"));
    let no_header = || DecodeError::CorruptJpeg("no frame header".into());
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    d.decode_headers().map_err(|e| bad(&e))?;
    let (w, h) = d.dimensions().ok_or_else(no_header)?;
    let n = d
        .output_buffer_size()
        .ok_or_else(|| DecodeError::CorruptJpeg("image too large".into()))?;
    let c = n / (w * h).max(1);
    buf.resize(n, 0);
    d.decode_into(&mut buf[..n]).map_err(|e| bad(&e))?;
    Ok((w, h, c, w, h))
}

/// Decodes a PNG into `buf` as RGB; returns its width and height.
pub fn decode_png(bytes: &[u8], buf: &mut Vec<u8>) -> Result<(usize, usize), DecodeError> {
    let img = ::image::load_from_memory_with_format(bytes, ::image::ImageFormat::Png)
        .map_err(|e| DecodeError::CorruptPng(e.to_string()))?;
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    *buf = rgb.into_raw();
    Ok((w as usize, h as usize))
}

/// Decodes the image file `path` (its content `bytes`) to RGB, reading the size its header
/// declares first and refusing more than `max_pixels` before any pixel buffer exists: JPEG
/// with the loader's decoder (zune-jpeg) in strict mode, anything else with `image`.
pub fn decode_rgb(path: &Path, bytes: &[u8], max_pixels: u64) -> Result<::image::RgbImage> {
    let bad = |e: String| Error::format(path, format!("cannot decode image: {e}"));
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return decode_jpeg_strict(path, bytes, max_pixels);
    }
    let reader = || {
        ::image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| bad(e.to_string()))
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| bad(e.to_string()))?;
    check_pixels(path, w as u64, h as u64, max_pixels)?;
    Ok(reader()?
        .decode()
        .map_err(|e| bad(e.to_string()))?
        .to_rgb8())
}

/// A source JPEG to RGB. Strict: a stream that ends early or holds a stray marker is an
/// error, where the lenient decoder would fill the rest with grey.
fn decode_jpeg_strict(path: &Path, bytes: &[u8], max_pixels: u64) -> Result<::image::RgbImage> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let bad = |e: String| Error::format(path, format!("cannot decode image: corrupt JPEG: {e}"));
    let opts = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_strict_mode(true)
        // The pixel count is the limit, not zune's default 16384 a side.
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    d.decode_headers().map_err(|e| bad(e.to_string()))?;
    let (w, h) = d
        .dimensions()
        .ok_or_else(|| bad("no frame header".into()))?;
    check_pixels(path, w as u64, h as u64, max_pixels)?;
    let px = d.decode().map_err(|e| bad(e.to_string()))?;
    let rgb = match px.len() / (w * h).max(1) {
        3 => px,
        1 => px.iter().flat_map(|&g| [g, g, g]).collect(),
        c => return Err(bad(format!("{c} channels"))),
    };
    ::image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .ok_or_else(|| bad("short pixel data".into()))
}

/// The decompression-bomb guard: an image may declare at most `max_pixels` pixels.
pub(crate) fn check_pixels(path: &Path, w: u64, h: u64, max_pixels: u64) -> Result<()> {
    let n = w * h;
    if n > max_pixels {
        return Err(Error::format(
            path,
            format!(
                "{w}x{h} = {n} pixels exceeds --max-pixels {max_pixels} (decompression bomb guard)"
            ),
        ));
    }
    Ok(())
}
