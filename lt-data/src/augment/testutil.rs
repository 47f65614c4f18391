//! Sample images for the augmentation tests.

use crate::format::Layout;

/// A raw layout of `h` x `w` x `c`.
pub(super) fn raw(h: u32, w: u32, c: u32) -> Layout {
    Layout::Raw {
        height: h,
        width: w,
        channels: c,
    }
}

/// An image whose every byte differs from its neighbours'.
pub(super) fn pattern(h: usize, w: usize, c: usize) -> Vec<u8> {
    (0..h * w * c).map(|i| (i * 7 % 251) as u8 + 1).collect()
}

/// A smooth RGB gradient of `w` x `h`, JPEG-encoded at quality 95.
pub(super) fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = ::image::RgbImage::from_fn(w, h, |x, y| {
        ::image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x + y) * 127 / (w + h)) as u8,
        ])
    });
    let mut out = Vec::new();
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(&img)
        .unwrap();
    out
}

/// `aug` applied once to `src` with a fresh scratch and `Rng::new(seed)`.
pub(super) fn apply_seeded(
    aug: &super::Augment,
    src: &[u8],
    layout: Layout,
    seed: u64,
    out: super::OutSlice,
) -> Result<(), super::SampleError> {
    aug.apply(
        src,
        layout,
        &mut crate::rng::Rng::new(seed),
        &mut aug.scratch(),
        out,
    )
}
