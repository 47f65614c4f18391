//! Applying an augmentation: the per-sample random draws ([`Params`]), the per-thread working
//! memory ([`Scratch`]), the dispatch to the pipeline's file, and the final write of a batch
//! slot.

use super::cifar::{self, CropFlip};
use super::error::SampleError;
use super::imagenet::{self, Crop};
use super::spec::{Augment, Kind, Output};
use crate::format::Layout;
use crate::image::{restart, source_dims, Taps};
use crate::rng::Rng;

/// The random draws of one sample, separated from their application so tests can pin them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Params {
    /// Crop offsets into the padded image (0..=2*pad) and whether to mirror.
    Cifar { oy: usize, ox: usize, flip: bool },
    /// The crop box, flip and colour jitter of the ImageNet pipeline.
    ImageNet(Crop),
}

/// Destination of one sample.
pub enum OutSlice<'a> {
    F32(&'a mut [f32]),
    U8(&'a mut [u8]),
}

/// Per-thread working memory, reused across samples so the hot loop does not allocate.
pub struct Scratch {
    pub(super) lut: Vec<f32>,
    pub(super) decoded: Vec<u8>,
    pub(super) tmp: Vec<f32>,
    pub(super) img: Vec<f32>,
    pub(super) htaps: Taps,
    pub(super) vtaps: Taps,
    /// The restart-marker index of the JPEG being decoded, and the JPEG of its crop's MCUs.
    pub(super) index: restart::Index,
    pub(super) sub: Vec<u8>,
    /// Time spent decoding encoded samples with this scratch so far (the loader's profile).
    pub decode_time: std::time::Duration,
}

impl Augment {
    /// Working memory for one thread.
    pub fn scratch(&self) -> Scratch {
        let mut lut = Vec::new();
        if let Output::Normalized { mean, std } = &self.output {
            for c in 0..3 {
                lut.extend((0..256).map(|v| (v as f32 / 255.0 - mean[c]) / std[c]));
            }
        }
        Scratch {
            lut,
            decoded: Vec::new(),
            tmp: Vec::new(),
            img: Vec::new(),
            htaps: Taps::default(),
            vtaps: Taps::default(),
            index: restart::Index::default(),
            sub: Vec::new(),
            decode_time: std::time::Duration::ZERO,
        }
    }

    /// Draws the random parameters for a source image of `width` x `height`.
    pub fn params(&self, rng: &mut Rng, width: usize, height: usize) -> Params {
        match &self.kind {
            Kind::Cifar { pad } => cifar::params(rng, *pad, self.train),
            Kind::ImageNet(g) => imagenet::params(rng, g, self.train, width, height),
        }
    }

    /// Draws parameters and augments `sample` (stored as `layout`) into `out`.
    /// Errors are one line describing the sample's problem (the loader adds file and index).
    pub fn apply(
        &self,
        sample: &[u8],
        layout: Layout,
        rng: &mut Rng,
        scratch: &mut Scratch,
        out: OutSlice,
    ) -> Result<(), SampleError> {
        let (w, h) = source_dims(sample, layout)?;
        let p = self.params(rng, w, h);
        self.apply_params(sample, layout, &p, scratch, out)
    }

    /// Augments with given parameters (see [`Augment::params`]).
    pub fn apply_params(
        &self,
        sample: &[u8],
        layout: Layout,
        p: &Params,
        scratch: &mut Scratch,
        out: OutSlice,
    ) -> Result<(), SampleError> {
        match (&self.kind, *p) {
            (Kind::Cifar { pad }, Params::Cifar { oy, ox, flip }) => {
                let geo = CropFlip {
                    pad: *pad,
                    oy,
                    ox,
                    flip,
                };
                cifar::apply(sample, layout, geo, &scratch.lut, out)
            }
            (Kind::ImageNet(g), Params::ImageNet(crop)) => {
                imagenet::apply(sample, layout, g.size, &crop, scratch, &self.output, out)
            }
            _ => Err(SampleError::ParamsMismatch),
        }
    }
}

/// Writes an RGB HWC image in [0, 255] as normalised CHW floats or rounded HWC bytes.
pub(super) fn write_hwc(img: &[f32], n: usize, output: &Output, out: OutSlice) {
    match (output, out) {
        (Output::Normalized { mean, std }, OutSlice::F32(o)) => {
            // (x / 255 - m) / s as x * a + b (no division an element), one pass for the
            // three planes.
            let a: [f32; 3] = std::array::from_fn(|c| 1.0 / (255.0 * std[c]));
            let b: [f32; 3] = std::array::from_fn(|c| -mean[c] / std[c]);
            let (r, rest) = o[..3 * n].split_at_mut(n);
            let (g, bl) = rest.split_at_mut(n);
            for (i, p) in img[..3 * n].chunks_exact(3).enumerate() {
                r[i] = p[0] * a[0] + b[0];
                g[i] = p[1] * a[1] + b[1];
                bl[i] = p[2] * a[2] + b[2];
            }
        }
        (_, OutSlice::U8(o)) => {
            for (o, &x) in o[..3 * n].iter_mut().zip(img) {
                *o = (x + 0.5) as u8;
            }
        }
        (Output::U8, OutSlice::F32(o)) => {
            // Unnormalised floats in [0, 255], HWC: only reachable through direct use.
            o[..3 * n].copy_from_slice(&img[..3 * n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{apply_seeded, pattern, raw};
    use super::super::*;
    use crate::augment::imagenet::Crop;

    /// Applies the mirroring draw `p` to a `side` x `side` pattern twice: once mirrored, the
    /// first pixel is the last of the row; twice, it is the source again.
    fn assert_flip_twice_is_identity(aug: &Augment, side: usize, p: &Params) {
        let mut scratch = aug.scratch();
        let src = pattern(side, side, 3);
        let l = raw(side as u32, side as u32, 3);
        let mut once = vec![0u8; side * side * 3];
        let mut twice = once.clone();
        aug.apply_params(&src, l, p, &mut scratch, OutSlice::U8(&mut once))
            .unwrap();
        assert_ne!(once, src);
        assert_eq!(
            &once[..3],
            &src[(side - 1) * 3..side * 3],
            "first pixel is the last of the row"
        );
        aug.apply_params(&once, l, p, &mut scratch, OutSlice::U8(&mut twice))
            .unwrap();
        assert_eq!(twice, src);
    }

    #[test]
    fn flip_twice_is_identity() {
        let cifar = Augment::cifar(true, CIFAR10_MEAN, CIFAR10_STD).uint8();
        let flip = Params::Cifar {
            oy: 4,
            ox: 4,
            flip: true,
        };
        assert_flip_twice_is_identity(&cifar, 32, &flip);
        // ImageNet geometry: a 1:1 resample of a 224x224 image, mirrored twice.
        let p = Params::ImageNet(Crop {
            x0: 0.0,
            y0: 0.0,
            sx: 1.0,
            sy: 1.0,
            flip: true,
            jitter: None,
        });
        assert_flip_twice_is_identity(&Augment::imagenet(true).uint8(), 224, &p);
    }

    #[test]
    fn normalisation_matches_hand_computed_values() {
        let aug = Augment::cifar(false, [0.5, 0.25, 0.0], [0.25, 0.5, 1.0]);
        // 1x2 image, 3 channels: pixels (255, 51, 0) and (0, 255, 102).
        let src = [255u8, 51, 0, 0, 255, 102];
        let mut out = [0f32; 6];
        apply_seeded(&aug, &src, raw(1, 2, 3), 0, OutSlice::F32(&mut out)).unwrap();
        // CHW: R = (1-0.5)/0.25, (0-0.5)/0.25; G = (0.2-0.25)/0.5, (1-0.25)/0.5; B = 0, 0.4.
        let want = [2.0, -2.0, -0.1, 1.5, 0.0, 0.4];
        for (o, w) in out.iter().zip(want) {
            assert!((o - w).abs() < 1e-6, "{out:?} vs {want:?}");
        }
        // ImageNet eval on a constant image normalises every pixel alike.
        let inet = Augment::imagenet(false);
        let src = vec![128u8; 300 * 260 * 3];
        let mut out = vec![0f32; 3 * 224 * 224];
        apply_seeded(&inet, &src, raw(300, 260, 3), 0, OutSlice::F32(&mut out)).unwrap();
        for c in 0..3 {
            let want = (128.0 / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            assert!(
                out[c * 50176..(c + 1) * 50176]
                    .iter()
                    .all(|x| (x - want).abs() < 1e-4),
                "channel {c}"
            );
        }
    }
}
