//! The ImageNet pipeline (torchvision's): train is random-resized-crop to `size` (scale
//! 0.08-1, ratio 3/4-4/3), flip and colour jitter; eval resizes the shorter side to `resize`
//! and centre-crops `size`. Crop, flip and resize are one antialiased resampling pass over
//! the raw bytes or the decoded JPEG/PNG (decoded at reduced scale when the crop allows).

use super::apply::{write_hwc, OutSlice, Params, Scratch};
use super::colour::{color_jitter, draw_jitter, Jitter};
use super::crop_source::{source, Source};
use super::error::SampleError;
use super::spec::Output;
use crate::format::Layout;
use crate::image::{resample, Plane};
use crate::rng::Rng;

/// The geometry constants of [`super::Kind::ImageNet`].
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    /// Output side.
    pub size: usize,
    /// Shorter side after the eval resize.
    pub resize: usize,
    /// Crop area range, as a fraction of the image.
    pub scale: (f64, f64),
    /// Crop aspect-ratio range.
    pub ratio: (f64, f64),
    /// Colour jitter strength (0: none).
    pub jitter: f32,
}

/// One drawn crop, in full-resolution source coordinates: output pixel i reads around source
/// x `x0 + (i + 0.5) * sx` (same for y).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    pub x0: f64,
    pub y0: f64,
    pub sx: f64,
    pub sy: f64,
    pub flip: bool,
    pub jitter: Option<Jitter>,
}

/// Draws the crop box, flip and jitter (train), or computes the centre crop (eval), for a
/// source of `width` x `height`.
pub(super) fn params(
    rng: &mut Rng,
    g: &Geometry,
    train: bool,
    width: usize,
    height: usize,
) -> Params {
    let s = g.size as f64;
    if train {
        let (left, top, cw, ch) = random_resized_crop_box(rng, width, height, g.scale, g.ratio);
        let flip = rng.unit() < 0.5;
        let jitter = (g.jitter > 0.0).then(|| draw_jitter(rng, g.jitter));
        Params::ImageNet(Crop {
            x0: left as f64,
            y0: top as f64,
            sx: cw as f64 / s,
            sy: ch as f64 / s,
            flip,
            jitter,
        })
    } else {
        let (nw, nh) = resized_shorter(width, height, g.resize);
        let left = round_half_even((nw as f64 - s) / 2.0).max(0.0);
        let top = round_half_even((nh as f64 - s) / 2.0).max(0.0);
        let (sx, sy) = (width as f64 / nw as f64, height as f64 / nh as f64);
        Params::ImageNet(Crop {
            x0: left * sx,
            y0: top * sy,
            sx,
            sy,
            flip: false,
            jitter: None,
        })
    }
}

/// Decodes (if encoded), crops, flips, resizes to `size` x `size`, jitters and writes.
pub(super) fn apply(
    sample: &[u8],
    layout: Layout,
    size: usize,
    crop: &Crop,
    scratch: &mut Scratch,
    output: &Output,
    out: OutSlice,
) -> Result<(), SampleError> {
    let decode_started = std::time::Instant::now();
    let (src, width, c) = source(sample, layout, size, crop, scratch)?;
    scratch.decode_time += decode_started.elapsed();
    if c != 1 && c != 3 {
        return Err(SampleError::Channels(c));
    }
    let Scratch {
        decoded,
        tmp,
        img,
        htaps,
        vtaps,
        ..
    } = scratch;
    let data = match src {
        Source::Sample => sample,
        Source::Decoded => &decoded[..],
    };
    let plane = Plane {
        data,
        width,
        channels: c,
    };
    resample(plane, htaps, vtaps, tmp, img);
    if let Some(j) = crop.jitter {
        color_jitter(img, &j);
    }
    write_hwc(img, size * size, output, out);
    Ok(())
}

/// Python's `round` (ties to even), which torchvision's geometry uses.
fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// torchvision `Resize(s)` with an int: shorter side becomes `s`, longer side truncated.
pub fn resized_shorter(w: usize, h: usize, s: usize) -> (usize, usize) {
    if w <= h {
        (s, (s as f64 * h as f64 / w as f64) as usize)
    } else {
        ((s as f64 * w as f64 / h as f64) as usize, s)
    }
}

/// torchvision's `RandomResizedCrop.get_params`: (left, top, width, height).
pub fn random_resized_crop_box(
    rng: &mut Rng,
    width: usize,
    height: usize,
    scale: (f64, f64),
    ratio: (f64, f64),
) -> (usize, usize, usize, usize) {
    let area = (width * height) as f64;
    let (lr0, lr1) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * rng.uniform(scale.0, scale.1);
        let aspect = rng.uniform(lr0, lr1).exp();
        let w = round_half_even((target * aspect).sqrt()) as usize;
        let h = round_half_even((target / aspect).sqrt()) as usize;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = rng.below(height - h + 1);
            let left = rng.below(width - w + 1);
            return (left, top, w, h);
        }
    }
    let in_ratio = width as f64 / height as f64;
    let (w, h) = if in_ratio < ratio.0 {
        (
            width,
            (round_half_even(width as f64 / ratio.0) as usize).clamp(1, height),
        )
    } else if in_ratio > ratio.1 {
        (
            (round_half_even(height as f64 * ratio.1) as usize).clamp(1, width),
            height,
        )
    } else {
        (width, height)
    };
    ((width - w) / 2, (height - h) / 2, w, h)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{apply_seeded, jpeg, raw};
    use super::super::*;
    use super::*;
    use crate::format::Encoding;
    use crate::image::reduction;
    use crate::image::source_dims;

    #[test]
    fn random_resized_crop_box_respects_scale_ratio_and_bounds() {
        let mut rng = Rng::new(1);
        let (w, h) = (400usize, 350usize);
        for _ in 0..5000 {
            let (l, t, cw, ch) =
                random_resized_crop_box(&mut rng, w, h, (0.08, 1.0), (0.75, 4.0 / 3.0));
            assert!(l + cw <= w && t + ch <= h && cw > 0 && ch > 0);
            let frac = (cw * ch) as f64 / (w * h) as f64;
            assert!((0.075..=1.0).contains(&frac), "area fraction {frac}");
            let r = cw as f64 / ch as f64;
            assert!((0.70..=1.43).contains(&r), "ratio {r}");
        }
        // No try can fit a 1000x10 strip: centre fallback at the widest allowed ratio.
        assert_eq!(
            random_resized_crop_box(&mut rng, 1000, 10, (0.08, 1.0), (0.75, 4.0 / 3.0)),
            (493, 0, 13, 10)
        );
    }

    #[test]
    fn eval_geometry_is_resize_256_centre_crop_224() {
        assert_eq!(resized_shorter(512, 384, 256), (341, 256));
        assert_eq!(resized_shorter(300, 600, 256), (256, 512));
        let aug = Augment::imagenet(false);
        let Params::ImageNet(c) = aug.params(&mut Rng::new(0), 512, 384) else {
            panic!()
        };
        // Left = round_half_even((341 - 224) / 2) = 58, top = 16, in resized pixels.
        assert!((c.x0 - 58.0 * 512.0 / 341.0).abs() < 1e-9 && (c.y0 - 16.0 * 1.5).abs() < 1e-9);
        assert!((c.sx - 512.0 / 341.0).abs() < 1e-12 && (c.sy - 1.5).abs() < 1e-12);
        assert!(!c.flip && c.jitter.is_none());
    }

    /// Mean absolute difference between `aug` with the draw `p` on the JPEG `bytes` (`w` x
    /// `h`) and on the same image fully decoded by the `image` crate.
    fn jpeg_vs_full_decode(aug: &Augment, bytes: &[u8], w: u32, h: u32, p: &Params) -> f64 {
        let out = |sample: &[u8], layout| {
            let mut o = vec![0u8; 224 * 224 * 3];
            aug.apply_params(sample, layout, p, &mut aug.scratch(), OutSlice::U8(&mut o))
                .unwrap();
            o
        };
        let got = out(bytes, Layout::Encoded(Encoding::Jpeg));
        let full = ::image::load_from_memory(bytes)
            .unwrap()
            .into_rgb8()
            .into_raw();
        let want = out(&full, raw(h, w, 3));
        got.iter()
            .zip(&want)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / want.len() as f64
    }

    #[test]
    fn reduced_dct_decoding_matches_full_decoding() {
        let bytes = jpeg(1024, 896);
        let aug = Augment::imagenet(false).uint8();
        let l = Layout::Encoded(Encoding::Jpeg);
        assert_eq!(source_dims(&bytes, l).unwrap(), (1024, 896));
        let p = aug.params(&mut Rng::new(0), 1024, 896);
        let Params::ImageNet(c) = p else { panic!() };
        assert_eq!(
            reduction(c.sx.min(c.sy)),
            2,
            "eval at 896 -> 256 decodes at half size"
        );
        // Reference: full decode through the image crate, the same geometry on raw pixels.
        let mad = jpeg_vs_full_decode(&aug, &bytes, 1024, 896, &p);
        assert!(mad < 2.0, "mean abs difference {mad}");
        // Full-scale path (no reduction) against the same reference on a small image.
        let p = aug.params(&mut Rng::new(0), 300, 260);
        let mad = jpeg_vs_full_decode(&aug, &jpeg(300, 260), 300, 260, &p);
        assert!(mad < 1.0, "mean abs difference {mad}");
    }

    #[test]
    fn corrupt_jpeg_is_an_error_not_a_panic() {
        let mut bytes = jpeg(64, 64);
        let aug = Augment::imagenet(true);
        let l = Layout::Encoded(Encoding::Jpeg);
        let mut out = vec![0f32; 3 * 224 * 224];
        let e = apply_seeded(&aug, b"not a jpeg", l, 0, OutSlice::F32(&mut out)).unwrap_err();
        assert!(e.to_string().contains("corrupt JPEG"), "{e}");
        bytes.truncate(bytes.len() / 3);
        let r = apply_seeded(&aug, &bytes, l, 0, OutSlice::F32(&mut out));
        // A truncated stream is either rejected or decoded with grey fill; it must not panic.
        if let Err(e) = r {
            assert!(e.to_string().contains("JPEG"), "{e}");
        }
        assert!(Augment::by_name("autoaugment", true).is_err());
        assert!(Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD)
            .out_shape(l)
            .is_err());
    }
}
