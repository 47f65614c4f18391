//! Small raw sources written on the spot: IDX files and trees, JPEGs, and an independent
//! CRC-32 to check split files with.

use std::path::{Path, PathBuf};

/// The CIFAR-10 class names, in order.
pub const NAMES10: &str = "airplane automobile bird cat deer dog frog horse ship truck";

/// CRC-32 (zlib polynomial), bitwise: independent of the crate under test.
pub fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A JPEG of `w` x `h`: a smooth image with a pattern that differs with `seed`.
pub fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x / 8 + y / 8 + seed * 29) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .unwrap();
    out
}

/// Writes `jpeg(w, h, seed)` to `path`, creating its folder.
pub fn write_jpeg(path: &Path, w: u32, h: u32, seed: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, jpeg(w, h, seed)).unwrap();
}

/// An unsigned-byte IDX file of the given dimensions.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// An MNIST-style IDX tree in `dir/idx`: 10 classes of `train` training and `test` test images
/// of 4x4 pixels, labels cycling through the classes.
pub fn idx_source(dir: &Path, train: u32, test: u32) -> PathBuf {
    let src = dir.join("idx");
    std::fs::create_dir_all(&src).unwrap();
    for (prefix, per_class) in [("train", train), ("t10k", test)] {
        let n = 10 * per_class;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = (0..n * 16).map(|i| (i * 31 % 251) as u8).collect();
        let file = |kind: &str, n: u8| src.join(format!("{prefix}-{kind}-idx{n}-ubyte"));
        std::fs::write(file("images", 3), idx(&[n, 4, 4], &pixels)).unwrap();
        std::fs::write(file("labels", 1), idx(&[n], &labels)).unwrap();
    }
    src
}
