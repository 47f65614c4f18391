//! One source sample to the bytes a split file stores: read, decode, resize (`--max-side`),
//! encode, each stage timed into a [`StageTimes`] of [`STAGES`].
//!
//! A source JPEG takes the fast path: libjpeg-turbo reads its header (the decompression-bomb
//! guard needs no pixels) and decodes it strictly at the smallest power-of-two DCT scale (1/2,
//! 1/4, 1/8) whose image still covers the stored size on both axes. Only power-of-two scales
//! are used: libjpeg-turbo has SIMD IDCTs for them, while its M/8 ones are plain C (measured on
//! the bench trees, one thread: 3/8 of a 1000x750 image 2.09 ms against 2.02 at 1/2, and 5/8,
//! 6/8, 7/8 of a 500x375 one 0.71-0.97 ms against 0.63 at full size).
//!
//! A YCbCr JPEG (any chroma subsampling) stored as JPEG and shrunk never becomes RGB: it
//! decodes to its Y, Cb and Cr planes, each plane is resized (antialiased bilinear, PIL's
//! `Image.BILINEAR` when shrinking, in fixed point: [`crate::image::plane_resize`]) straight to
//! the stored 4:2:0 planes, which libjpeg-turbo encodes as they are. That skips the colour
//! conversion both ways, chroma upsampling and downsampling, and half the resize work (on the
//! 1000x750 bench tree: decode 11 %, resize 35 %, encode 23 % faster than through RGB).
//! Everything else (grey or CMYK JPEGs, other formats, raw storage, no resize) goes through RGB:
//! TurboJPEG or `image` (PNG, BMP, ...) or zune-jpeg (CMYK JPEG) decodes, fast_image_resize's
//! SIMD convolution with the triangle filter resizes, libjpeg-turbo encodes (quality
//! `--quality`, 4:2:0, as PIL's default).

use crate::error::{Error, Result};
use crate::format::{Encoding, Layout};
use crate::image::decode_rgb;
use crate::image::turbo::{self, Scale};
use crate::image::yuv::Yuv;
use crate::source::{Pixels, Sample};
use crate::stages::StageTimes;
use fast_image_resize as fir;
use std::path::Path;

/// The builder's stages, in pipeline order.
pub const STAGES: &[&str] = &["read", "decode", "resize", "encode", "write"];
pub const READ: usize = 0;
pub const DECODE: usize = 1;
pub const RESIZE: usize = 2;
pub const ENCODE: usize = 3;
pub const WRITE: usize = 4;

/// How samples are stored (the builder's `--store`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Decoded uint8 HWC pixels.
    Raw,
    /// A JPEG of this quality.
    Jpeg(u8),
}

/// A sample ready to write.
pub struct Prepared {
    pub layout: Layout,
    pub bytes: Vec<u8>,
}

/// An RGB image: width, height, HWC bytes.
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub bytes: Vec<u8>,
}

/// Decodes, resizes and encodes one sample as `target` asks, the longer side at most
/// `max_side`; an image file declaring more than `max_pixels` pixels is refused before it is
/// decoded.
pub fn prepare(
    s: &Sample,
    target: Target,
    max_side: Option<u32>,
    max_pixels: u64,
    times: &StageTimes,
) -> Result<Prepared> {
    if let Pixels::Raw {
        height,
        width,
        channels,
        data,
    } = &s.pixels
    {
        if target == Target::Raw && max_side.is_none_or(|m| *height.max(width) <= m) {
            let layout = Layout::Raw {
                height: *height,
                width: *width,
                channels: *channels,
            };
            return Ok(Prepared {
                layout,
                bytes: data.clone(),
            });
        }
    }
    if let (Target::Jpeg(q), Pixels::File(path)) = (target, &s.pixels) {
        let bytes = read(path, times)?;
        let bytes = match planar_resized(path, &bytes, max_side, max_pixels, times)? {
            Some(yuv) => times.time(ENCODE, || encode_planes(path, &yuv, q))?,
            None => {
                let img = file_rgb(path, &bytes, max_side, max_pixels, times)?;
                times.time(ENCODE, || encode(s, &img, q))?
            }
        };
        let layout = Layout::Encoded(Encoding::Jpeg);
        return Ok(Prepared { layout, bytes });
    }
    let img = decode_resized(s, max_side, max_pixels, times)?;
    match target {
        Target::Raw => Ok(Prepared {
            layout: Layout::Raw {
                height: img.height as u32,
                width: img.width as u32,
                channels: 3,
            },
            bytes: img.bytes,
        }),
        Target::Jpeg(q) => Ok(Prepared {
            layout: Layout::Encoded(Encoding::Jpeg),
            bytes: times.time(ENCODE, || encode(s, &img, q))?,
        }),
    }
}

/// The sample's pixels as RGB, resized so that the longer side is at most `max_side`.
pub fn decode_resized(
    s: &Sample,
    max_side: Option<u32>,
    max_pixels: u64,
    times: &StageTimes,
) -> Result<Rgb> {
    let img = match &s.pixels {
        Pixels::File(path) => {
            return file_rgb(path, &read(path, times)?, max_side, max_pixels, times)
        }
        Pixels::Raw { .. } => times.time(DECODE, || raw_rgb(&s.pixels))?,
    };
    let full = (img.width, img.height);
    resized(img, full, max_side, times)
}

fn read(path: &Path, times: &StageTimes) -> Result<Vec<u8>> {
    times.time(READ, || std::fs::read(path).map_err(|e| Error::io(path, e)))
}

/// The image file's content `bytes` decoded to RGB and resized as [`decode_resized`] says.
fn file_rgb(
    path: &Path,
    bytes: &[u8],
    max_side: Option<u32>,
    max_pixels: u64,
    times: &StageTimes,
) -> Result<Rgb> {
    let (img, full) = times.time(DECODE, || decode_file(path, bytes, max_side, max_pixels))?;
    resized(img, full, max_side, times)
}

/// `img` (decoded from an image of `full` size, maybe at a reduced scale) at the stored size.
fn resized(
    img: Rgb,
    full: (usize, usize),
    max_side: Option<u32>,
    times: &StageTimes,
) -> Result<Rgb> {
    let (w, h) = stored_size(full, max_side);
    if (w, h) == (img.width, img.height) {
        return Ok(img);
    }
    times.time(RESIZE, || resize(&img, w, h))
}

/// A YCbCr JPEG (any chroma subsampling) that `max_side` shrinks, as the 4:2:0 planes of its
/// stored size: decoded at the DCT scale [`dct_scale`] picks straight to its planes and resized
/// plane by plane, never converted to RGB. `None` for any other file, which takes the RGB path.
fn planar_resized(
    path: &Path,
    bytes: &[u8],
    max_side: Option<u32>,
    max_pixels: u64,
    times: &StageTimes,
) -> Result<Option<Yuv>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(None);
    }
    let hd = turbo::header(bytes).map_err(|e| corrupt(path, e))?;
    let full = (hd.width, hd.height);
    let (w, h) = stored_size(full, max_side);
    if hd.chroma.is_none() || (w, h) == full {
        return Ok(None);
    }
    crate::image::decode::check_pixels(path, full.0 as u64, full.1 as u64, max_pixels)?;
    let scale = dct_scale(full, (w, h));
    let yuv = times.time(DECODE, || {
        turbo::decode_yuv(bytes, hd, scale, true).map_err(|e| corrupt(path, e))
    })?;
    Ok(Some(times.time(RESIZE, || yuv.resize_420(w, h))))
}

/// The one-line error of a JPEG source libjpeg-turbo refuses.
fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("cannot decode image: corrupt JPEG: {e}"))
}

/// The stored size of an image of `full` size: the longer side scaled to `max_side` when
/// longer, the other rounded (at least 1), as the builder always did.
pub fn stored_size(full: (usize, usize), max_side: Option<u32>) -> (usize, usize) {
    let (w, h) = full;
    match max_side {
        Some(m) if w.max(h) > m as usize => {
            let scale = m as f64 / w.max(h) as f64;
            let side = |n: usize| ((n as f64 * scale).round() as usize).max(1);
            (side(w), side(h))
        }
        _ => (w, h),
    }
}

/// The smallest power-of-two DCT scale (1, 1/2, 1/4, 1/8) whose image of `full` size still
/// covers `need` on both axes.
pub fn dct_scale(full: (usize, usize), need: (usize, usize)) -> Scale {
    Scale::smallest_covering(|s| s.of(full.0) >= need.0 && s.of(full.1) >= need.1)
}

/// An image file's content decoded to RGB, JPEG at a reduced DCT scale where the stored size
/// allows; returns it and the image's full size.
fn decode_file(
    path: &Path,
    bytes: &[u8],
    max_side: Option<u32>,
    max_pixels: u64,
) -> Result<(Rgb, (usize, usize))> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let hd = turbo::header(bytes).map_err(|e| corrupt(path, e))?;
        if !hd.cmyk {
            crate::image::decode::check_pixels(
                path,
                hd.width as u64,
                hd.height as u64,
                max_pixels,
            )?;
            let full = (hd.width, hd.height);
            let scale = dct_scale(full, stored_size(full, max_side));
            let mut px = Vec::new();
            let (width, height) =
                turbo::decode_rgb(bytes, hd, scale, true, &mut px).map_err(|e| corrupt(path, e))?;
            let img = Rgb {
                width,
                height,
                bytes: px,
            };
            return Ok((img, full));
        }
    }
    let img = decode_rgb(path, bytes, max_pixels)?;
    let full = (img.width() as usize, img.height() as usize);
    let rgb = Rgb {
        width: full.0,
        height: full.1,
        bytes: img.into_raw(),
    };
    Ok((rgb, full))
}

/// Raw grey or RGB source pixels as RGB.
fn raw_rgb(p: &Pixels) -> Result<Rgb> {
    let Pixels::Raw {
        height,
        width,
        channels,
        data,
    } = p
    else {
        unreachable!("raw_rgb takes raw pixels")
    };
    let bytes = match channels {
        1 => data.iter().flat_map(|&g| [g, g, g]).collect(),
        3 => data.clone(),
        _ => {
            return Err(Error::invalid(format!(
                "raw sample of {channels} channels cannot be re-encoded"
            )))
        }
    };
    Ok(Rgb {
        width: *width as usize,
        height: *height as usize,
        bytes,
    })
}

/// `img` resized to `w` x `h`: SIMD convolution with the triangle (bilinear) filter, its
/// support widened by the scale when shrinking (antialiased, as PIL).
pub fn resize(img: &Rgb, w: usize, h: usize) -> Result<Rgb> {
    let err = |e: String| Error::invalid(format!("resize to {w}x{h}: {e}"));
    let src = fir::images::ImageRef::new(
        img.width as u32,
        img.height as u32,
        &img.bytes,
        fir::PixelType::U8x3,
    )
    .map_err(|e| err(e.to_string()))?;
    let mut dst = fir::images::Image::new(w as u32, h as u32, fir::PixelType::U8x3);
    let opts = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear));
    // One resizer a thread: it keeps its scratch buffers from image to image.
    thread_local! {
        static RESIZER: std::cell::RefCell<fir::Resizer> = std::cell::RefCell::new(fir::Resizer::new());
    }
    RESIZER
        .with_borrow_mut(|r| r.resize(&src, &mut dst, &opts))
        .map_err(|e| err(e.to_string()))?;
    Ok(Rgb {
        width: w,
        height: h,
        bytes: dst.into_vec(),
    })
}

/// The 4:2:0 planes `yuv` of the source `path` as a JPEG of quality `q`.
fn encode_planes(path: &Path, yuv: &Yuv, q: u8) -> Result<Vec<u8>> {
    crate::image::encode::encode_yuv420(yuv, q)
        .map_err(|e| Error::invalid(format!("{}: JPEG encoding failed: {e}", path.display())))
}

/// `img` as a JPEG of quality `q`.
fn encode(s: &Sample, img: &Rgb, q: u8) -> Result<Vec<u8>> {
    let name = || match &s.pixels {
        Pixels::File(p) => p.display().to_string(),
        Pixels::Raw { .. } => "source".into(),
    };
    let (w, h) = (img.width, img.height);
    if w.max(h) > u16::MAX as usize {
        let name = name();
        return Err(Error::invalid(format!(
            "{name}: {w}x{h} is too large for JPEG; use --max-side"
        )));
    }
    crate::image::encode::encode_rgb(&img.bytes, w, h, q)
        .map_err(|e| Error::invalid(format!("{}: JPEG encoding failed: {e}", name())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A photo-like RGB image: gradients, a textured disc, and +-8 of per-pixel noise.
    fn photo(w: usize, h: usize) -> Vec<u8> {
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut px = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let n = (s >> 60) as f64 - 8.0;
                let (dx, dy) = (x as f64 - w as f64 / 2.0, y as f64 - h as f64 / 2.0);
                let disc = if dx * dx + dy * dy < (h * h / 9) as f64 {
                    90.0 * ((x / 9 + y / 13) % 2) as f64
                } else {
                    0.0
                };
                for c in 0..3 {
                    let g = 30.0 + 150.0 * [x as f64 / w as f64, y as f64 / h as f64, 0.5][c];
                    px.push((g + disc + n).clamp(0.0, 255.0) as u8);
                }
            }
        }
        px
    }

    fn mean_max_diff(a: &[u8], b: &[u8]) -> (f64, u8) {
        assert_eq!(a.len(), b.len());
        let d = a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y));
        let max = d.clone().max().unwrap_or(0);
        (d.map(f64::from).sum::<f64>() / a.len() as f64, max)
    }

    #[test]
    fn the_stored_size_and_the_dct_scale() {
        assert_eq!(stored_size((1000, 750), Some(256)), (256, 192));
        assert_eq!(stored_size((333, 500), Some(256)), (170, 256));
        assert_eq!(stored_size((200, 100), Some(256)), (200, 100));
        assert_eq!(stored_size((200, 100), None), (200, 100));
        // 1/2 of 1000x750 is 500x375 >= 256x192; 1/4 would be 250 wide.
        assert_eq!(
            dct_scale((1000, 750), (256, 192)),
            Scale { num: 1, denom: 2 }
        );
        // 500x375 to 256x192 is less than 2x: full size.
        assert_eq!(dct_scale((500, 375), (256, 192)), Scale::FULL);
        assert_eq!(
            dct_scale((4000, 3000), (256, 192)),
            Scale { num: 1, denom: 8 }
        );
        assert_eq!(
            dct_scale((2100, 1500), (256, 183)),
            Scale { num: 1, denom: 8 }
        );
    }

    /// The documented tolerance (README, "JPEG at reduced scale"): a JPEG decoded at a reduced
    /// DCT scale, then resized, against the full decode resized the same way, on photo-like
    /// images at quality 90 (values 0-255): mean absolute difference at most 1.0 at 1/2, 2.0
    /// at 1/4 and 1/8, 3.0 when the reduced image is already the stored size (no resize
    /// smooths libjpeg's 1/8 block means); no value off by more than 48. Measured here:
    /// 0.62 / 7, 1.39 / 16, 1.66 / 20 and 2.88 / 40 (mean / max).
    #[test]
    fn reduced_scale_decoding_stays_within_the_tolerance_of_full_decoding() {
        let cases = [
            (1000, 750, 256, 2, 1.0),
            (1024, 768, 224, 4, 2.0),
            (1600, 1200, 192, 8, 2.0),
            (2000, 1500, 250, 8, 3.0),
        ];
        for (w, h, max_side, denom, bound) in cases {
            let jpeg = crate::image::encode::encode_rgb(&photo(w, h), w, h, 90).unwrap();
            let (got, full) =
                decode_file(Path::new("p.jpg"), &jpeg, Some(max_side), u64::MAX).unwrap();
            assert_eq!(full, (w, h));
            assert_eq!(
                (got.width, got.height),
                (w.div_ceil(denom), h.div_ceil(denom))
            );
            let (sw, sh) = stored_size(full, Some(max_side));
            let reduced = resize(&got, sw, sh).unwrap();
            let hd = turbo::header(&jpeg).unwrap();
            let mut px = Vec::new();
            turbo::decode_rgb(&jpeg, hd, Scale::FULL, true, &mut px).unwrap();
            let whole = Rgb {
                width: w,
                height: h,
                bytes: px,
            };
            let reference = resize(&whole, sw, sh).unwrap();
            let (mean, max) = mean_max_diff(&reduced.bytes, &reference.bytes);
            assert!(
                mean <= bound && max <= 48,
                "{w}x{h} at 1/{denom}: mean {mean:.3}, max {max}"
            );
        }
    }

    /// The SIMD resizer is the triangle filter the loader's scalar resampler implements (PIL's
    /// antialiased bilinear): the two agree to rounding.
    #[test]
    fn the_simd_resize_is_the_scalar_antialiased_bilinear() {
        let (w, h) = (503, 377);
        let px = photo(w, h);
        let simd = resize(
            &Rgb {
                width: w,
                height: h,
                bytes: px.clone(),
            },
            256,
            192,
        )
        .unwrap();
        let img = ::image::RgbImage::from_raw(w as u32, h as u32, px).unwrap();
        let scalar = crate::image::resize_rgb(&img, 256, 192);
        let (mean, max) = mean_max_diff(&simd.bytes, scalar.as_raw());
        assert!(mean < 0.25 && max <= 1, "mean {mean}, max {max}");
    }
}
