//! Antialiased bilinear resampling (PIL's triangle filter): per-axis filter taps and a
//! separable two-pass resampler over uint8 HWC images, used by the ImageNet augmentation (crop,
//! flip and resize in one pass) and by the builder's `--max-side` resize.

/// Antialiased bilinear (triangle) filter taps of one axis, as PIL's resampling: for output
/// pixel i the source centre is `x0 + (i + 0.5) * scale` and the filter widens with `scale`
/// when shrinking.
#[derive(Default)]
pub struct Taps {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<f32>,
    stride: usize,
}

impl Taps {
    pub fn build(&mut self, out_len: usize, in_len: usize, x0: f64, scale: f64, flip: bool) {
        let fscale = scale.max(1.0);
        let support = fscale;
        self.stride = (2.0 * support).ceil() as usize + 2;
        self.start.clear();
        self.len.clear();
        self.weights.clear();
        self.weights.resize(out_len * self.stride, 0.0);
        for i in 0..out_len {
            let oi = if flip { out_len - 1 - i } else { i };
            let center = x0 + (oi as f64 + 0.5) * scale;
            let (lo, hi) = window(center, support, in_len, self.stride);
            let ws = &mut self.weights[i * self.stride..i * self.stride + (hi - lo)];
            let mut sum = 0.0;
            for (k, w) in ws.iter_mut().enumerate() {
                let d = ((lo + k) as f64 + 0.5 - center) / fscale;
                let t = (1.0 - d.abs()).max(0.0);
                *w = t as f32;
                sum += t;
            }
            if sum > 0.0 {
                ws.iter_mut().for_each(|w| *w = (*w as f64 / sum) as f32);
            } else {
                // Centre outside the image (degenerate box): nearest edge pixel.
                ws.fill(0.0);
                let near = if center < lo as f64 { 0 } else { hi - lo - 1 };
                ws[near] = 1.0;
            }
            self.start.push(lo);
            self.len.push(hi - lo);
        }
    }
    /// Moves every tap `by` source pixels to the left: the same filter over the part of the
    /// source that starts at column `by` (which must be at or before [`Taps::span`]'s start).
    pub fn shift(&mut self, by: usize) {
        self.start.iter_mut().for_each(|s| *s -= by);
    }
    /// Source range `[lo, hi)` any output pixel reads.
    pub fn span(&self) -> (usize, usize) {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self
            .start
            .iter()
            .zip(&self.len)
            .map(|(s, l)| s + l)
            .max()
            .unwrap_or(lo);
        (lo, hi)
    }
    /// Output pixel `i`'s first source pixel and weights.
    pub(super) fn tap(&self, i: usize) -> (usize, &[f32]) {
        (
            self.start[i],
            &self.weights[i * self.stride..i * self.stride + self.len[i]],
        )
    }
}

/// The source samples `[lo, hi)` (at least one, at most `max`) a triangle filter of half-width
/// `support` centred on `center` reads from a row of `in_len`.
pub(super) fn window(center: f64, support: f64, in_len: usize, max: usize) -> (usize, usize) {
    // `as usize` truncates, which for the non-negative values it keeps is floor (and cheaper:
    // floor is a libm call in the portable build).
    let lo = ((center - support + 0.5).max(0.0) as usize).min(in_len.saturating_sub(1));
    let hi = ((center + support + 0.5).max(0.0) as usize)
        .clamp(lo + 1, in_len)
        .min(lo + max);
    (lo, hi)
}

/// A uint8 HWC image to resample: its bytes, row length in pixels, and channels (1 or 3).
#[derive(Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub channels: usize,
}

/// Separable resample of `src` to RGB HWC floats in `out` (`tmp` is working memory).
/// The vectorisable vertical pass runs over whichever side is larger (source rows when
/// shrinking, output rows when enlarging) and the gathering horizontal pass over the smaller.
pub fn resample(src: Plane, h: &Taps, v: &Taps, tmp: &mut Vec<f32>, out: &mut Vec<f32>) {
    let rows = v.span().1 - v.span().0;
    resample_ordered(src, (h, v), tmp, out, rows > v.start.len());
}

/// [`resample`] with the pass order chosen by the caller (both orders agree to rounding).
/// On x86-64 CPUs with AVX2 the same code runs compiled for 8-wide vectors (the portable build
/// targets SSE2); no operation is fused or reordered, so both give the same bits.
pub fn resample_ordered(
    src: Plane,
    taps: (&Taps, &Taps),
    tmp: &mut Vec<f32>,
    out: &mut Vec<f32>,
    vertical_first: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked just above), the only feature the function enables.
        return unsafe { resample_avx2(src, taps, tmp, out, vertical_first) };
    }
    resample_portable(src, taps, tmp, out, vertical_first)
}

/// [`resample_portable`] compiled with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn resample_avx2(
    src: Plane,
    taps: (&Taps, &Taps),
    tmp: &mut Vec<f32>,
    out: &mut Vec<f32>,
    vertical_first: bool,
) {
    resample_portable(src, taps, tmp, out, vertical_first)
}

/// The two separable passes (inlined into each instruction-set version).
#[inline(always)]
fn resample_portable(
    src: Plane,
    (h, v): (&Taps, &Taps),
    tmp: &mut Vec<f32>,
    out: &mut Vec<f32>,
    vertical_first: bool,
) {
    let Plane {
        data: src,
        width: sw,
        channels: c,
    } = src;
    let (ow, oh) = (h.start.len(), v.start.len());
    // Every value below is written before it is read: no zeroing (it was 2 % of the loader).
    out.resize(oh * ow * 3, 0.0);
    if vertical_first {
        let (clo, chi) = h.span();
        let tw = (chi - clo) * c;
        tmp.resize(oh * tw, 0.0);
        for (y, trow) in tmp.chunks_exact_mut(tw).enumerate() {
            let (s, ws) = v.tap(y);
            for (k, &w) in ws.iter().enumerate() {
                let r = (s + k) * sw * c;
                vaccumulate(trow, &src[r + clo * c..r + chi * c], w, k);
            }
        }
        for (trow, orow) in tmp.chunks_exact(tw).zip(out.chunks_exact_mut(ow * 3)) {
            hpass(trow, c, clo, h, orow);
        }
    } else {
        let (rlo, rhi) = v.span();
        tmp.resize((rhi - rlo) * ow * 3, 0.0);
        for (r, trow) in (rlo..rhi).zip(tmp.chunks_exact_mut(ow * 3)) {
            hpass(&src[r * sw * c..(r + 1) * sw * c], c, 0, h, trow);
        }
        for (y, orow) in out.chunks_exact_mut(ow * 3).enumerate() {
            let (s, ws) = v.tap(y);
            for (k, &w) in ws.iter().enumerate() {
                vaccumulate(
                    orow,
                    &tmp[(s + k - rlo) * ow * 3..(s + k - rlo + 1) * ow * 3],
                    w,
                    k,
                );
            }
        }
    }
}

/// `acc += w * row` element-wise, or `acc = w * row` for the first tap `k == 0` (so the
/// accumulators need no zeroing; 0 + w x is w x exactly). Auto-vectorised.
#[inline(always)]
fn vaccumulate<T: Copy + Into<f32>>(acc: &mut [f32], row: &[T], w: f32, k: usize) {
    if k == 0 {
        acc.iter_mut()
            .zip(row)
            .for_each(|(o, &t)| *o = w * t.into());
    } else {
        acc.iter_mut()
            .zip(row)
            .for_each(|(o, &t)| *o += w * t.into());
    }
}

/// Horizontal filtering of one row (its first pixel is source column `first`) into RGB.
#[inline(always)]
fn hpass<T: Copy + Into<f32>>(row: &[T], c: usize, first: usize, h: &Taps, out: &mut [f32]) {
    for (i, t) in out.chunks_exact_mut(3).enumerate() {
        let (s, ws) = h.tap(i);
        let s = s - first;
        if c == 3 {
            // Four lanes a tap (the fourth reads the next pixel's red and is dropped): one SIMD
            // multiply-add instead of three scalar ones. The row's last pixel has no fourth
            // value to read and takes the scalar form.
            let mut acc = [0.0f32; 4];
            for (k, &w) in ws.iter().enumerate() {
                let o = (s + k) * 3;
                match row.get(o..o + 4) {
                    Some(p) => {
                        let p: [T; 4] = p.try_into().expect("four values");
                        for j in 0..4 {
                            acc[j] += w * p[j].into();
                        }
                    }
                    None => acc[..3]
                        .iter_mut()
                        .zip(&row[o..o + 3])
                        .for_each(|(a, &x)| *a += w * x.into()),
                }
            }
            t.copy_from_slice(&acc[..3]);
        } else {
            let g: f32 = row[s..s + ws.len()]
                .iter()
                .zip(ws)
                .map(|(&p, &w)| w * p.into())
                .sum();
            t.fill(g);
        }
    }
}

/// Antialiased bilinear resize (PIL's filter) with the loader's separable resampler: about
/// four times faster than `image::imageops::resize`, which dominated JPEG-tree builds.
pub fn resize_rgb(img: &::image::RgbImage, w: u32, h: u32) -> ::image::RgbImage {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let (mut ht, mut vt) = (Taps::default(), Taps::default());
    ht.build(w as usize, sw, 0.0, sw as f64 / w as f64, false);
    vt.build(h as usize, sh, 0.0, sh as f64 / h as f64, false);
    let (mut tmp, mut out) = (Vec::new(), Vec::new());
    let src = Plane {
        data: img.as_raw(),
        width: sw,
        channels: 3,
    };
    resample(src, &ht, &vt, &mut tmp, &mut out);
    // `as u8` saturates, so values just outside [0, 255] clamp.
    let bytes = out.iter().map(|&x| (x + 0.5) as u8).collect();
    ::image::RgbImage::from_raw(w, h, bytes).expect("resample fills w x h x 3")
}

/// `img` resized so that its longer side is at most `max_side` (unchanged when it already is).
pub fn shrink(img: image::RgbImage, max_side: Option<u32>) -> image::RgbImage {
    match max_side {
        Some(m) if img.width().max(img.height()) > m => {
            let scale = m as f64 / img.width().max(img.height()) as f64;
            let w = ((img.width() as f64 * scale).round() as u32).max(1);
            let h = ((img.height() as f64 * scale).round() as u32).max(1);
            resize_rgb(&img, w, h)
        }
        _ => img,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn antialiased_bilinear_taps_match_hand_computed_weights() {
        // 4 pixels -> 2: first output centred at 1.0 with support 2: weights 0.75, 0.75, 0.25.
        let mut t = Taps::default();
        t.build(2, 4, 0.0, 2.0, false);
        let (s, w) = t.tap(0);
        assert_eq!(s, 0);
        let want = [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75];
        assert!(
            w.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{w:?}"
        );
        let src = [0u8, 100, 200, 255];
        let mut v = Taps::default();
        v.build(1, 1, 0.0, 1.0, false);
        let (mut tmp, mut out) = (Vec::new(), Vec::new());
        let plane = Plane {
            data: &src,
            width: 4,
            channels: 1,
        };
        resample(plane, &t, &v, &mut tmp, &mut out);
        assert!((out[0] - 125.0 / 1.75).abs() < 1e-3, "{out:?}");
        assert!(
            (out[3] - (100.0 * 0.25 + 200.0 * 0.75 + 255.0 * 0.75) / 1.75).abs() < 1e-3,
            "{out:?}"
        );
    }

    #[test]
    fn both_resampling_orders_agree() {
        let (w, h) = (97usize, 83usize);
        for c in [1usize, 3] {
            let src: Vec<u8> = (0..w * h * c).map(|i| (i * 13 % 256) as u8).collect();
            for (x0, y0, sx, sy, flip) in [
                (3.0, 5.0, 0.3, 0.25, false),
                (1.0, 0.0, 0.4, 0.35, true),
                (0.5, 2.0, 0.1, 0.12, true),
            ] {
                let (mut ht, mut vt) = (Taps::default(), Taps::default());
                ht.build(224, w, x0, sx, flip);
                vt.build(224, h, y0, sy, false);
                let (mut tmp, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
                let plane = Plane {
                    data: &src,
                    width: w,
                    channels: c,
                };
                resample_ordered(plane, (&ht, &vt), &mut tmp, &mut a, true);
                resample_ordered(plane, (&ht, &vt), &mut tmp, &mut b, false);
                let worst = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-3, "c {c}: orders differ by {worst}");
                assert!(a.iter().all(|&x| (0.0..=255.001).contains(&x)));
            }
        }
    }

    #[test]
    fn resize_matches_image_triangle_filter_closely() {
        let img = ::image::RgbImage::from_fn(500, 375, |x, y| {
            ::image::Rgb([
                (x * 255 / 499) as u8,
                (y * 255 / 374) as u8,
                ((x / 10 + y / 10) % 2 * 200) as u8,
            ])
        });
        let ours = resize_rgb(&img, 256, 192);
        let theirs =
            ::image::imageops::resize(&img, 256, 192, ::image::imageops::FilterType::Triangle);
        assert_eq!(ours.dimensions(), (256, 192));
        let diff: Vec<i32> = ours
            .as_raw()
            .iter()
            .zip(theirs.as_raw())
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .collect();
        let mean = diff.iter().sum::<i32>() as f64 / diff.len() as f64;
        assert!(mean < 2.0, "mean difference {mean}");
        // The smooth channels agree everywhere to a level or two.
        assert!(ours
            .pixels()
            .zip(theirs.pixels())
            .all(|(a, b)| (0..2).all(|c| (a[c] as i32 - b[c] as i32).abs() <= 2)));
        let flat = resize_rgb(
            &::image::RgbImage::from_pixel(97, 61, ::image::Rgb([9, 128, 250])),
            13,
            8,
        );
        assert!(flat.pixels().all(|p| *p == ::image::Rgb([9, 128, 250])));
    }
}
