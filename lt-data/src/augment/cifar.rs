//! The CIFAR pipeline: zero-pad by `pad`, random crop back to the stored size, horizontal
//! flip, normalise, reading the stored bytes once (the padding is never materialised).

use super::apply::{OutSlice, Params};
use super::error::{check_raw, SampleError};
use crate::format::Layout;
use crate::rng::Rng;

/// Draws the crop offsets (0..=2*pad) and the flip; eval is the centred crop, unflipped.
pub(super) fn params(rng: &mut Rng, pad: usize, train: bool) -> Params {
    if train {
        let oy = rng.below(2 * pad + 1);
        let ox = rng.below(2 * pad + 1);
        Params::Cifar {
            oy,
            ox,
            flip: rng.unit() < 0.5,
        }
    } else {
        Params::Cifar {
            oy: pad,
            ox: pad,
            flip: false,
        }
    }
}

/// Crops (offsets `oy`, `ox` into the padded image), flips and writes one raw sample.
pub(super) fn apply(
    sample: &[u8],
    layout: Layout,
    geo: CropFlip,
    lut: &[f32],
    out: OutSlice,
) -> Result<(), SampleError> {
    let Layout::Raw {
        height,
        width,
        channels,
    } = layout
    else {
        return Err(SampleError::NotRaw);
    };
    let (h, w, c) = (height as usize, width as usize, channels as usize);
    check_raw(sample, h, w, c)?;
    match out {
        OutSlice::F32(o) => crop_flip_f32(sample, h, w, c, &geo, lut, o),
        OutSlice::U8(o) => crop_flip_u8(sample, h, w, c, &geo, o),
    }
    Ok(())
}

/// Geometry of one CIFAR draw.
pub(super) struct CropFlip {
    pub pad: usize,
    pub oy: usize,
    pub ox: usize,
    pub flip: bool,
}

impl CropFlip {
    /// Source coordinate of output (y or x) `i`, `None` when it falls in the zero padding.
    #[inline]
    fn src(&self, i: usize, off: usize, len: usize) -> Option<usize> {
        let s = (i + off).wrapping_sub(self.pad);
        (s < len).then_some(s)
    }
}

fn crop_flip_f32(
    src: &[u8],
    h: usize,
    w: usize,
    c: usize,
    g: &CropFlip,
    lut: &[f32],
    out: &mut [f32],
) {
    for ch in 0..c {
        let lut = &lut[ch * 256..ch * 256 + 256];
        let plane = &mut out[ch * h * w..(ch + 1) * h * w];
        for (y, row) in plane.chunks_exact_mut(w).enumerate() {
            let Some(sy) = g.src(y, g.oy, h) else {
                row.fill(lut[0]);
                continue;
            };
            let srow = &src[sy * w * c..(sy + 1) * w * c];
            for (x, o) in row.iter_mut().enumerate() {
                let xx = if g.flip { w - 1 - x } else { x };
                *o = match g.src(xx, g.ox, w) {
                    Some(sx) => lut[srow[sx * c + ch] as usize],
                    None => lut[0],
                };
            }
        }
    }
}

fn crop_flip_u8(src: &[u8], h: usize, w: usize, c: usize, g: &CropFlip, out: &mut [u8]) {
    for (y, row) in out[..h * w * c].chunks_exact_mut(w * c).enumerate() {
        let Some(sy) = g.src(y, g.oy, h) else {
            row.fill(0);
            continue;
        };
        let srow = &src[sy * w * c..(sy + 1) * w * c];
        for (x, o) in row.chunks_exact_mut(c).enumerate() {
            let xx = if g.flip { w - 1 - x } else { x };
            match g.src(xx, g.ox, w) {
                Some(sx) => o.copy_from_slice(&srow[sx * c..sx * c + c]),
                None => o.fill(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{apply_seeded, pattern, raw};
    use super::super::*;
    use crate::rng::Rng;

    #[test]
    fn cifar_crop_offsets_stay_inside_padded_image() {
        let aug = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD).uint8();
        let mut rng = Rng::new(5);
        let mut seen = [[false; 9]; 2];
        let mut flips = 0;
        for _ in 0..2000 {
            let Params::Cifar { oy, ox, flip } = aug.params(&mut rng, 32, 32) else {
                panic!()
            };
            assert!(
                oy <= 8 && ox <= 8,
                "offset ({oy}, {ox}) outside the padded image"
            );
            seen[0][oy] = true;
            seen[1][ox] = true;
            flips += flip as usize;
        }
        assert!(
            seen.iter().flatten().all(|&s| s),
            "not every offset 0..=8 drawn"
        );
        assert!((850..1150).contains(&flips), "flip frequency {flips}/2000");

        // The real output is exactly the source shifted by one of the 9x9x2 possible draws.
        let src = pattern(32, 32, 3);
        let mut scratch = aug.scratch();
        let mut out = vec![0u8; 32 * 32 * 3];
        for s in 0..20 {
            // One scratch for every seed: nothing of one call may leak into the next.
            aug.apply(
                &src,
                raw(32, 32, 3),
                &mut Rng::new(s),
                &mut scratch,
                OutSlice::U8(&mut out),
            )
            .unwrap();
            let found = (0..9).any(|oy| {
                (0..9).any(|ox| {
                    [false, true].into_iter().any(|flip| {
                        (0..32).all(|y| {
                            (0..32).all(|x| {
                                let xx = if flip { 31 - x } else { x };
                                let (sy, sx) = (y as isize + oy - 4, xx as isize + ox - 4);
                                let inside = (0..32).contains(&sy) && (0..32).contains(&sx);
                                (0..3).all(|c| {
                                    let want = if inside {
                                        src[(sy as usize * 32 + sx as usize) * 3 + c]
                                    } else {
                                        0
                                    };
                                    out[(y * 32 + x) * 3 + c] == want
                                })
                            })
                        })
                    })
                })
            });
            assert!(found, "seed {s}: output is not a pad-4 crop of the source");
        }
    }

    #[test]
    fn uint8_mode_is_the_unnormalised_float_output() {
        let f = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD);
        let u = f.clone().uint8();
        let src = pattern(32, 32, 3);
        let mut of = vec![0f32; 3072];
        let mut ou = vec![0u8; 3072];
        apply_seeded(&f, &src, raw(32, 32, 3), 9, OutSlice::F32(&mut of)).unwrap();
        apply_seeded(&u, &src, raw(32, 32, 3), 9, OutSlice::U8(&mut ou)).unwrap();
        for c in 0..3 {
            for i in 0..1024 {
                let want = (ou[i * 3 + c] as f32 / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c];
                assert_eq!(of[c * 1024 + i], want);
            }
        }
    }
}
