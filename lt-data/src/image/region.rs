//! Decoding only the rectangle of a JPEG that a crop reads (`csrc/jpeg_region.c`, libjpeg-turbo's
//! libjpeg API): rows above it are entropy-decoded and dropped, rows below are never decoded, and
//! columns outside it skip the inverse DCT, upsampling and colour conversion. The pixels are
//! those of the full decode at the same scale (tested), so a crop costs about its own area.

use super::error::DecodeError;
use super::turbo::Scale;
use std::ops::Range;
use std::os::raw::{c_char, c_int, c_uint};

#[repr(C)]
struct LtRegion {
    denom: c_uint,
    x0: c_uint,
    x1: c_uint,
    y0: c_uint,
    y1: c_uint,
    out_x0: c_uint,
    out_width: c_uint,
}

const LT_OK: c_int = 0;
const LT_UNSUPPORTED: c_int = 2;

extern "C" {
    fn lt_jpeg_decode_region(
        data: *const u8,
        len: usize,
        r: *mut LtRegion,
        out: *mut u8,
        cap: usize,
        msg: *mut c_char,
        msg_len: usize,
    ) -> c_int;
}

/// The decoded rectangle: RGB rows of `width` pixels starting at column `x0` of the scaled image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub x0: usize,
    pub width: usize,
}

/// Decodes rows `rows` and at least columns `cols` (in pixels of the image scaled by `scale`,
/// whose scaled width is `scaled_width`) into `out` as RGB, leniently as
/// [`super::decode_jpeg`]. `Ok(None)`: a CMYK / YCCK image, which the caller decodes another
/// way. The columns start at an iMCU boundary before `cols.start` (at it when 0) and end one
/// after `cols.end` (at the image's edge); those asked for are exactly the full decode's, the
/// first and last decoded may not be.
pub fn decode_region(
    bytes: &[u8],
    scale: Scale,
    scaled_width: usize,
    cols: Range<usize>,
    rows: Range<usize>,
    out: &mut Vec<u8>,
) -> Result<Option<Region>, DecodeError> {
    let too_large = || DecodeError::CorruptJpeg("image too large".into());
    let dim = |v: usize| c_uint::try_from(v).map_err(|_| too_large());
    let mut r = LtRegion {
        denom: dim(scale.denom)?,
        x0: dim(cols.start)?,
        x1: dim(cols.end)?,
        y0: dim(rows.start)?,
        y1: dim(rows.end)?,
        out_x0: 0,
        out_width: 0,
    };
    let cap = scaled_width
        .checked_mul(rows.len())
        .and_then(|n| n.checked_mul(3))
        .ok_or_else(too_large)?;
    if out.len() < cap {
        // Grown only: zeroing the whole buffer for every image measured 2 % of the loader.
        out.resize(cap, 0);
    }
    let mut msg = [0 as c_char; 200];
    // SAFETY: `bytes` is valid for its length; `out` holds `out.len()` >= `cap` bytes and the C
    // side writes at most that (it checks); `msg` is a live buffer of its length, NUL-terminated by snprintf.
    let status = unsafe {
        lt_jpeg_decode_region(
            bytes.as_ptr(),
            bytes.len(),
            &mut r,
            out.as_mut_ptr(),
            out.len(),
            msg.as_mut_ptr(),
            msg.len(),
        )
    };
    match status {
        LT_OK => Ok(Some(Region {
            x0: r.out_x0 as usize,
            width: r.out_width as usize,
        })),
        LT_UNSUPPORTED => Ok(None),
        _ => {
            // SAFETY: the C side wrote a NUL-terminated message into `msg`.
            let text = unsafe { std::ffi::CStr::from_ptr(msg.as_ptr()) };
            Err(DecodeError::CorruptJpeg(
                text.to_string_lossy().into_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::turbo;
    use super::*;
    use crate::testutil::noisy_rgb as rgb;

    /// Rows `rows`, columns from `x0` of `width`, of the full lenient decode at `scale`.
    fn full_crop(bytes: &[u8], scale: Scale, r: &Region, rows: Range<usize>) -> Vec<u8> {
        let hd = turbo::header(bytes).unwrap();
        let mut full = Vec::new();
        let (w, _) = turbo::decode_rgb(bytes, hd, scale, false, &mut full).unwrap();
        rows.flat_map(|y| full[(y * w + r.x0) * 3..(y * w + r.x0 + r.width) * 3].to_vec())
            .collect()
    }

    #[test]
    fn a_region_is_the_same_pixels_as_the_full_decode() {
        let (w, h) = (413usize, 301usize);
        let grey = {
            let img = ::image::GrayImage::from_fn(w as u32, h as u32, |x, y| {
                ::image::Luma([((x * 31 + y * 17) % 256) as u8])
            });
            let mut out = Vec::new();
            ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(&img)
                .unwrap();
            out
        };
        let sources = [
            crate::image::encode::encode_rgb(&rgb(w, h), w, h, 90).unwrap(),
            grey,
        ];
        let mut buf = Vec::new();
        for bytes in &sources {
            for denom in [1, 2, 4, 8] {
                let scale = Scale { num: 1, denom };
                let (sw, sh) = (scale.of(w), scale.of(h));
                for (cols, rows) in [
                    (0..sw, 0..sh),
                    (sw / 3..sw / 3 + sw / 2, sh / 4..sh - 1),
                    (sw - 5..sw, 0..3),
                    (7..9, sh / 2..sh / 2 + 1),
                    // Ending on either column of a chroma pair (4:2:0).
                    (6..10, 1..sh / 2),
                    (sw / 2 + 1..sw / 2 + 4, 2..5),
                ] {
                    let r = decode_region(bytes, scale, sw, cols.clone(), rows.clone(), &mut buf)
                        .unwrap()
                        .unwrap();
                    assert!(r.x0 <= cols.start && r.x0 + r.width >= cols.end, "{r:?}");
                    let got = &buf[..r.width * rows.len() * 3];
                    let want = full_crop(bytes, scale, &r, rows.clone());
                    // The columns asked for, out of the decoded rectangle and the full decode.
                    let (a, b) = ((cols.start - r.x0) * 3, (cols.end - r.x0) * 3);
                    let same = got
                        .chunks_exact(r.width * 3)
                        .zip(want.chunks_exact(r.width * 3))
                        .all(|(g, w)| g[a..b] == w[a..b]);
                    assert!(same, "1/{denom}, {cols:?} x {rows:?}: pixels differ");
                }
            }
        }
    }

    #[test]
    fn bad_streams_and_regions_are_errors_or_declined_never_panics() {
        let mut buf = Vec::new();
        let full = Scale::FULL;
        let e = decode_region(b"not a jpeg at all", full, 10, 0..1, 0..1, &mut buf).unwrap_err();
        assert!(e.to_string().starts_with("corrupt JPEG: "), "{e}");
        let bytes = crate::image::encode::encode_rgb(&rgb(64, 48), 64, 48, 90).unwrap();
        // Outside the image, or empty: declined, so the caller decodes the whole image.
        assert_eq!(
            decode_region(&bytes, full, 64, 0..65, 0..1, &mut buf),
            Ok(None)
        );
        assert_eq!(
            decode_region(&bytes, full, 64, 0..8, 0..49, &mut buf),
            Ok(None)
        );
        assert_eq!(
            decode_region(&bytes, full, 64, 3..3, 0..1, &mut buf),
            Ok(None)
        );
        // A stream cut in half decodes leniently (the lost rows grey), as the full decode does.
        let cut = &bytes[..bytes.len() / 2];
        let r = decode_region(cut, full, 64, 0..64, 40..48, &mut buf);
        assert!(matches!(r, Ok(Some(_))), "{r:?}");
    }
}
