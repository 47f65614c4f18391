//! Antialiased bilinear resize of one 8-bit plane (a JPEG's Y, Cb or Cr plane), in integers:
//! PIL's triangle filter (the taps of [`Taps`](super::resample::Taps)) as 14-bit fixed-point weights summing to one,
//! a vertical pass over whole rows (auto-vectorised; AVX2 where the CPU has it) and the
//! horizontal pass as the same vertical pass over the transposed plane (SSE2 16x16 transposes
//! on x86-64). Between the passes values are rounded to u8, as PIL does.

use super::resample::window;
use std::cell::RefCell;

/// Weights are Q15 (the sum of an output's is [`ONE`], stored as i16).
const BITS: u32 = 15;
const ONE: i32 = 1 << BITS;

/// A u8 plane: `width` x `height` samples, rows `stride` bytes apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub data: Vec<u8>,
}

impl Gray {
    /// A zeroed plane of `width` x `height` whose rows are `stride` apart and which has
    /// `rows` (at least `height`) rows of storage.
    pub fn new(width: usize, height: usize, stride: usize, rows: usize) -> Gray {
        debug_assert!(stride >= width && rows >= height);
        Gray {
            width,
            height,
            stride,
            data: vec![0; stride * rows],
        }
    }
    /// Makes this a `width` x `height` plane without padding, keeping the storage (and
    /// whatever it holds: every pass writes all it later reads).
    fn reshape(&mut self, width: usize, height: usize) {
        (self.width, self.height, self.stride) = (width, height, width);
        self.data.resize(width * height, 0);
    }
    /// Row `y`'s `width` samples.
    pub fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.stride..y * self.stride + self.width]
    }
    /// Copies the last column into the padding right of it and the last row into every
    /// storage row below it (libjpeg's own edge extension for partial blocks).
    pub fn replicate_edges(&mut self) {
        let (w, s) = (self.width, self.stride);
        for row in self.data.chunks_exact_mut(s).take(self.height) {
            let last = row[w - 1];
            row[w..].fill(last);
        }
        let (top, below) = self.data.split_at_mut(self.height * s);
        let last = &top[(self.height - 1) * s..];
        below
            .chunks_exact_mut(s)
            .for_each(|r| r.copy_from_slice(last));
    }
}

/// Fixed-point taps of one axis: output `i` reads `len[i]` source samples from `start[i]`.
struct Fixed {
    start: Vec<usize>,
    len: Vec<usize>,
    weights: Vec<i16>,
    stride: usize,
}

impl Fixed {
    /// The taps of `out_len` outputs over `in_len` inputs, output `i` centred on input
    /// coordinate `(i + 0.5) * scale`: [`Taps`](super::resample::Taps)'s windows and weights, each output's scaled
    /// to sum to exactly [`ONE`] (so a flat plane stays exactly flat).
    fn new(out_len: usize, in_len: usize, scale: f64) -> Fixed {
        let support = scale.max(1.0);
        let stride = (2.0 * support).ceil() as usize + 2;
        let mut f = Fixed {
            start: Vec::with_capacity(out_len),
            len: Vec::with_capacity(out_len),
            weights: vec![0; out_len * stride],
            stride,
        };
        let mut t = vec![0.0f32; stride];
        let inv = (1.0 / support) as f32;
        for i in 0..out_len {
            let center = (i as f64 + 0.5) * scale;
            let (lo, hi) = window(center, support, in_len, stride);
            let t = &mut t[..hi - lo];
            // Distance of tap k from the centre, in filter units: d0 + k * inv.
            let d0 = ((lo as f64 + 0.5 - center) / support) as f32;
            let mut sum = 0.0f32;
            for (k, t) in t.iter_mut().enumerate() {
                *t = (1.0 - (d0 + k as f32 * inv).abs()).max(0.0);
                sum += *t;
            }
            let q = &mut f.weights[i * stride..i * stride + t.len()];
            let mut total = 0;
            if sum > 0.0 {
                let norm = ONE as f32 / sum;
                for (q, &t) in q.iter_mut().zip(t.iter()) {
                    *q = (t * norm + 0.5) as i16;
                    total += *q as i32;
                }
            }
            // Rounding may leave the sum off by a unit or two, which the tap nearest the centre
            // (the largest) takes; a centre outside the plane reads only the nearest sample.
            let near = ((center - lo as f64) as usize).min(q.len() - 1);
            // One (ONE) is one unit over i16: a lone tap of 1 - 2^-15 is close enough.
            q[near] = (q[near] as i32 + ONE - total).min(i16::MAX as i32) as i16;
            f.start.push(lo);
            f.len.push(t.len());
        }
        f
    }
    fn tap(&self, i: usize) -> (usize, &[i16]) {
        let o = i * self.stride;
        (self.start[i], &self.weights[o..o + self.len[i]])
    }
}

/// Resizes each plane of `src` into its `dst` (whose `width` and `height` say the output size;
/// all of one size, so the taps are computed once), output sample (x, y) centred on source
/// coordinates ((x + 0.5) * scale.0, (y + 0.5) * scale.1): the caller sets the scale, so
/// chroma planes keep their siting when their sizes round.
pub fn resize_planes<const N: usize>(src: [&Gray; N], dst: [&mut Gray; N], scale: (f64, f64)) {
    let Some(first) = dst.first() else { return };
    let h = Fixed::new(first.width, src[0].width, scale.0);
    let v = Fixed::new(first.height, src[0].height, scale.1);
    for (s, d) in src.into_iter().zip(dst) {
        resize_with(s, d, (&h, &v));
    }
}

thread_local! {
    /// The passes' intermediate planes, kept from call to call.
    static SCRATCH: RefCell<[Gray; 3]> = RefCell::default();
}

/// The vertical pass (src.width x dst.height), transposed, the vertical pass again (which is
/// the horizontal one), transposed back into `dst`.
fn resize_with(src: &Gray, dst: &mut Gray, (h, v): (&Fixed, &Fixed)) {
    SCRATCH.with_borrow_mut(|[a, at, b]| {
        a.reshape(src.width, dst.height);
        vpass(src, v, a);
        at.reshape(dst.height, src.width);
        transpose(a, at);
        b.reshape(dst.height, dst.width);
        vpass(at, h, b);
        transpose(b, dst);
    })
}

/// `dst` row y = the taps of output y over `src`'s rows (both `src.width` wide).
fn vpass(src: &Gray, taps: &Fixed, dst: &mut Gray) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (checked just above), the only feature the function enables.
        return unsafe { vpass_avx2(src, taps, dst) };
    }
    vpass_portable(src, taps, dst)
}

/// [`vpass_portable`] compiled for AVX2 (8 lanes of i32 an instruction).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vpass_avx2(src: &Gray, taps: &Fixed, dst: &mut Gray) {
    vpass_portable(src, taps, dst)
}

/// Output rows in chunks of [`LANES`] columns whose accumulators stay in registers.
#[inline(always)]
fn vpass_portable(src: &Gray, taps: &Fixed, dst: &mut Gray) {
    let w = src.width;
    for y in 0..dst.height {
        let (s, ws) = taps.tap(y);
        let rows = &src.data[s * src.stride..];
        let out = &mut dst.data[y * dst.stride..y * dst.stride + w];
        let mut x = 0;
        while x + LANES <= w {
            chunk::<LANES>(rows, src.stride, ws, x, &mut out[x..x + LANES]);
            x += LANES;
        }
        while x + 16 <= w {
            chunk::<8>(rows, src.stride, ws, x, &mut out[x..x + 8]);
            x += 8;
        }
        for x in x..w {
            chunk::<1>(rows, src.stride, ws, x, &mut out[x..x + 1]);
        }
    }
}

const LANES: usize = 32;

/// `out[i]` = the weighted sum of sample `x + i` of rows `k` (`stride` apart in `rows`),
/// rounded and clamped to u8 (32-bit accumulators: 255 times [`ONE`] fits with room).
#[inline(always)]
fn chunk<const N: usize>(rows: &[u8], stride: usize, ws: &[i16], x: usize, out: &mut [u8]) {
    let mut acc = [1i32 << (BITS - 1); N];
    for (k, &w) in ws.iter().enumerate() {
        let px: &[u8; N] = rows[k * stride + x..][..N].try_into().expect("N samples");
        for i in 0..N {
            acc[i] += w as i32 * px[i] as i32;
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = (a >> BITS).clamp(0, 255) as u8;
    }
}

/// `dst` = `src` transposed (`dst.width == src.height`, `dst.height == src.width`).
pub fn transpose(src: &Gray, dst: &mut Gray) {
    debug_assert!(dst.width == src.height && dst.height == src.width);
    let (w, h) = (src.width, src.height);
    let (bw, bh) = (w / 16 * 16, h / 16 * 16);
    #[cfg(target_arch = "x86_64")]
    for y in (0..bh).step_by(16) {
        for x in (0..bw).step_by(16) {
            sse2::block16(src, dst, x, y);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    scalar_block(src, dst, (0, bw), (0, bh));
    scalar_block(src, dst, (bw, w), (0, h));
    scalar_block(src, dst, (0, bw), (bh, h));
}

/// Transposes the source rectangle of columns `xs` and rows `ys`.
fn scalar_block(src: &Gray, dst: &mut Gray, xs: (usize, usize), ys: (usize, usize)) {
    for y in ys.0..ys.1 {
        for x in xs.0..xs.1 {
            dst.data[x * dst.stride + y] = src.data[y * src.stride + x];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use super::Gray;
    use std::arch::x86_64::*;

    /// Transposes the 16x16 block of `src` at column `x`, row `y` into `dst` (SSE2 is part of
    /// x86-64: four rounds of byte, word, dword and qword interleaves).
    pub fn block16(src: &Gray, dst: &mut Gray, x: usize, y: usize) {
        assert!(x + 16 <= src.width && y + 16 <= src.height);
        assert!(y + 16 <= dst.width && x + 16 <= dst.height);
        let mut r = [unsafe { _mm_setzero_si128() }; 16];
        for (i, r) in r.iter_mut().enumerate() {
            let row = &src.data[(y + i) * src.stride + x..][..16];
            // SAFETY: `row` holds 16 bytes; unaligned load.
            *r = unsafe { _mm_loadu_si128(row.as_ptr().cast()) };
        }
        let t = rounds(r);
        for (i, t) in t.iter().enumerate() {
            let row = &mut dst.data[(x + i) * dst.stride + y..][..16];
            // SAFETY: `row` holds 16 bytes; unaligned store.
            unsafe { _mm_storeu_si128(row.as_mut_ptr().cast(), *t) };
        }
    }

    /// Row i of the result holds byte i of every input row, in input order.
    fn rounds(r: [__m128i; 16]) -> [__m128i; 16] {
        (0..4).fold(r, |r, _| interleave(r))
    }

    /// One round: the bytes of rows i and i + 8 interleaved, low halves into row 2i and high
    /// halves into 2i + 1 (four rounds of this perfect shuffle transpose 16x16 bytes).
    #[inline(always)]
    fn interleave(r: [__m128i; 16]) -> [__m128i; 16] {
        let mut o = r;
        for i in 0..8 {
            // SAFETY: register-only SSE2 operations (baseline on x86-64).
            (o[2 * i], o[2 * i + 1]) = unsafe {
                (
                    _mm_unpacklo_epi8(r[i], r[i + 8]),
                    _mm_unpackhi_epi8(r[i], r[i + 8]),
                )
            };
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::super::resample::{resample, Plane, Taps};
    use super::*;

    fn plane(w: usize, h: usize, stride: usize) -> Gray {
        let mut g = Gray::new(w, h, stride, h);
        let mut s: u32 = 12345;
        for (i, v) in g.data.iter_mut().enumerate() {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *v = ((i % stride) * 255 / stride) as u8 / 2 + (s >> 25) as u8;
        }
        g
    }

    #[test]
    fn the_sse2_transpose_is_the_transpose() {
        for (w, h) in [(16, 16), (37, 53), (100, 33), (5, 70), (48, 16)] {
            let src = plane(w, h, w + 3);
            let mut t = Gray::new(h, w, h + 1, w);
            transpose(&src, &mut t);
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(t.data[x * t.stride + y], src.data[y * src.stride + x]);
                }
            }
        }
    }

    /// Against the loader's floating-point resampler with the same taps: two roundings (after
    /// each pass) keep every sample within one level of it.
    #[test]
    fn fixed_point_resize_is_the_float_triangle_filter_to_a_level() {
        for (sw, sh, w, h) in [(500, 375, 256, 192), (250, 188, 128, 96), (97, 61, 40, 30)] {
            let src = plane(sw, sh, sw);
            let scale = (sw as f64 / w as f64, sh as f64 / h as f64);
            let mut got = Gray::new(w, h, w.next_multiple_of(16), h);
            resize_planes([&src], [&mut got], scale);
            let (mut ht, mut vt) = (Taps::default(), Taps::default());
            ht.build(w, sw, 0.0, scale.0, false);
            vt.build(h, sh, 0.0, scale.1, false);
            let (mut tmp, mut want) = (Vec::new(), Vec::new());
            let p = Plane {
                data: &src.data,
                width: sw,
                channels: 1,
            };
            resample(p, &ht, &vt, &mut tmp, &mut want);
            for y in 0..h {
                for (x, &g) in got.row(y).iter().enumerate() {
                    let f = want[(y * w + x) * 3];
                    assert!((g as f32 - f).abs() <= 1.0, "({x}, {y}): {g} vs {f}");
                }
            }
        }
    }

    #[test]
    fn a_flat_plane_stays_flat_and_edges_replicate() {
        let mut src = Gray::new(131, 77, 131, 77);
        src.data.fill(201);
        let mut dst = Gray::new(50, 29, 64, 32);
        resize_planes([&src], [&mut dst], (131.0 / 50.0, 77.0 / 29.0));
        assert!((0..29).all(|y| dst.row(y).iter().all(|&v| v == 201)));
        dst.data[28 * 64 + 49] = 7;
        dst.replicate_edges();
        assert!(dst.data[28 * 64 + 50..29 * 64].iter().all(|&v| v == 7));
        assert!(dst.data[31 * 64 + 49..].iter().all(|&v| v == 7));
        assert_eq!(dst.data[31 * 64..31 * 64 + 49], [201; 49]);
    }
}
