//! What an ImageNet crop reads, decoded as little as possible: a raw sample is read in place; a
//! JPEG is decoded at the largest power-of-two DCT reduction that keeps the crop box at least the
//! output size, and only over the rectangle the resampling taps span (of a JPEG with a restart
//! marker after every MCU, as the builder writes, only the MCUs under it); a PNG whole. The
//! taps are built here, over whatever was decoded, so the resampler reads the same pixels as
//! after a whole decode (tested bit for bit).

use super::apply::Scratch;
use super::error::{check_raw, SampleError};
use super::imagenet::Crop;
use crate::format::{Encoding, Layout};
use crate::image::region::decode_region;
use crate::image::turbo::{self, Scale};
use crate::image::{decode_jpeg, decode_png, reduction};
use std::ops::Range;

/// Where the pixels to resample are: the raw sample itself, or `Scratch::decoded`.
pub(super) enum Source {
    Sample,
    Decoded,
}

/// Decodes what the crop reads (a JPEG at the DCT scale the box allows, and only the rectangle
/// its filter taps cover) and builds `scratch`'s taps over it: where the pixels are, their row
/// length and channels.
pub(super) fn source(
    sample: &[u8],
    layout: Layout,
    size: usize,
    crop: &Crop,
    scratch: &mut Scratch,
) -> Result<(Source, usize, usize), SampleError> {
    let Crop {
        x0,
        y0,
        sx,
        sy,
        flip,
        ..
    } = *crop;
    let (src, fw, fh, c) = match layout {
        Layout::Raw {
            height,
            width,
            channels,
        } => {
            let (h, w, c) = (height as usize, width as usize, channels as usize);
            check_raw(sample, h, w, c)?;
            (Source::Sample, w, h, c)
        }
        Layout::Encoded(Encoding::Jpeg) => {
            if let Some(width) = jpeg_region(sample, size, crop, scratch)? {
                return Ok((Source::Decoded, width, 3));
            }
            let (dw, dh, c, fw, fh) = decode_jpeg(sample, 1, &mut scratch.decoded)?;
            debug_assert_eq!((dw, dh), (fw, fh), "the fallback decodes at full size");
            (Source::Decoded, fw, fh, c)
        }
        Layout::Encoded(Encoding::Png) => {
            let (w, h) = decode_png(sample, &mut scratch.decoded)?;
            (Source::Decoded, w, h, 3)
        }
    };
    scratch.htaps.build(size, fw, x0, sx, flip);
    scratch.vtaps.build(size, fh, y0, sy, false);
    Ok((src, fw, c))
}

/// The JPEG path of [`source`]: the scale is the largest power-of-two reduction that keeps the
/// box at least `size` ([`reduction`]); the taps are built in scaled pixels, and only the
/// rectangle they span is decoded (of a JPEG with per-MCU restart markers, as the builder
/// writes, only the MCUs under it, [`restart_region`]), the taps then shifted onto it. Returns
/// the rectangle's row length, or `None` for a CMYK JPEG (decoded whole by the caller).
fn jpeg_region(
    sample: &[u8],
    size: usize,
    crop: &Crop,
    scratch: &mut Scratch,
) -> Result<Option<usize>, SampleError> {
    let hd = turbo::header(sample)?;
    if hd.cmyk {
        return Ok(None);
    }
    let scale = Scale {
        num: 1,
        denom: reduction(crop.sx.min(crop.sy)),
    };
    let (dw, dh) = (scale.of(hd.width), scale.of(hd.height));
    let (fx, fy) = (dw as f64 / hd.width as f64, dh as f64 / hd.height as f64);
    scratch
        .htaps
        .build(size, dw, crop.x0 * fx, crop.sx * fx, crop.flip);
    scratch
        .vtaps
        .build(size, dh, crop.y0 * fy, crop.sy * fy, false);
    let ((clo, chi), (rlo, rhi)) = (scratch.htaps.span(), scratch.vtaps.span());
    let found = match restart_region(sample, scale, (clo..chi, rlo..rhi), scratch)? {
        Some(found) => Some(found),
        None => decode_region(sample, scale, dw, clo..chi, rlo..rhi, &mut scratch.decoded)?
            .map(|r| (r.x0, r.width)),
    };
    let Some((x0, width)) = found else {
        return Ok(None);
    };
    scratch.htaps.shift(x0);
    scratch.vtaps.shift(rlo);
    Ok(Some(width))
}

/// Decodes columns `cols` and rows `rows` (scaled pixels) of a JPEG with a restart marker after
/// every MCU from the JPEG of just the MCUs under them, with one MCU more on each side (the
/// upsampling context): the same pixels as the whole decode (tested). Returns the first
/// column decoded and the row length, or `None` when `sample` is not such a JPEG.
fn restart_region(
    sample: &[u8],
    scale: Scale,
    (cols, rows): (Range<usize>, Range<usize>),
    scratch: &mut Scratch,
) -> Result<Option<(usize, usize)>, SampleError> {
    let Scratch {
        index,
        sub,
        decoded,
        ..
    } = scratch;
    if index.build(sample).is_none() {
        return Ok(None);
    }
    let (mw, mh) = (
        index.mcu_width / scale.denom,
        index.mcu_height / scale.denom,
    );
    let mcus = |r: &Range<usize>, m: usize, n: usize| {
        (r.start / m).saturating_sub(1)..(r.end.div_ceil(m) + 1).min(n)
    };
    let (mc, mr) = (mcus(&cols, mw, index.mcus_x), mcus(&rows, mh, index.mcus_y));
    let (ox, oy) = (mc.start * mw, mr.start * mh);
    let (sub_w, _) = index.sub_image(sample, mc, mr, sub);
    let shifted = |r: &Range<usize>, o: usize| r.start - o..r.end - o;
    let r = decode_region(
        sub,
        scale,
        scale.of(sub_w),
        shifted(&cols, ox),
        shifted(&rows, oy),
        decoded,
    )?;
    Ok(r.map(|r| (ox + r.x0, r.width)))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::jpeg;
    use super::super::*;
    use super::*;
    use crate::image::{resample, Plane};
    use crate::rng::Rng;

    /// `crop` applied the long way: the whole JPEG decoded at the crop's scale, taps over it.
    fn whole_decode(bytes: &[u8], crop: &Crop) -> Vec<f32> {
        let mut decoded = Vec::new();
        let (dw, dh, c, fw, fh) =
            decode_jpeg(bytes, reduction(crop.sx.min(crop.sy)), &mut decoded).unwrap();
        let (fx, fy) = (dw as f64 / fw as f64, dh as f64 / fh as f64);
        let (mut ht, mut vt) = (crate::image::Taps::default(), crate::image::Taps::default());
        ht.build(224, dw, crop.x0 * fx, crop.sx * fx, crop.flip);
        vt.build(224, dh, crop.y0 * fy, crop.sy * fy, false);
        let (mut tmp, mut img) = (Vec::new(), Vec::new());
        let plane = Plane {
            data: &decoded,
            width: dw,
            channels: c,
        };
        resample(plane, &ht, &vt, &mut tmp, &mut img);
        img
    }

    #[test]
    fn decoding_the_crop_region_gives_the_whole_decode_result() {
        let (w, h) = (1003u32, 751u32);
        // Without restart markers (the region decoder) and with one after every MCU, as the
        // builder writes (the MCUs under the crop, assembled into a JPEG of their own).
        let plain = jpeg(w, h);
        let noisy = crate::testutil::noisy_rgb(w as usize, h as usize);
        let marked = crate::image::encode::encode_rgb(&noisy, w as usize, h as usize, 90).unwrap();
        assert!(crate::image::restart::Index::default()
            .build(&marked)
            .is_some());
        for (bytes, train) in [
            (&plain, true),
            (&plain, false),
            (&marked, true),
            (&marked, false),
        ] {
            let aug = Augment::imagenet(train);
            let mut rng = Rng::new(5);
            let mut scratch = aug.scratch();
            for _ in 0..40 {
                let Params::ImageNet(crop) = aug.params(&mut rng, w as usize, h as usize) else {
                    panic!()
                };
                let crop = Crop {
                    jitter: None,
                    ..crop
                };
                let mut out = vec![0f32; 3 * 224 * 224];
                let l = Layout::Encoded(Encoding::Jpeg);
                let out_slice = OutSlice::F32(&mut out);
                aug.apply_params(bytes, l, &Params::ImageNet(crop), &mut scratch, out_slice)
                    .unwrap();
                let want = whole_decode(bytes, &crop);
                let differ = scratch
                    .img
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a != b)
                    .count();
                assert!(
                    differ == 0,
                    "{crop:?}: {differ} of {} values differ",
                    want.len()
                );
            }
        }
    }
}
