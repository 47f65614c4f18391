//! Image files as a model's input: the files named or found under directories, each decoded and
//! turned into the pixels its dataset stores (what `lt-data build` makes of a source image),
//! then put through the dataset's evaluation transform, exactly as the loader does with a
//! stored sample.
//!
//! What a dataset stores, and so what an image becomes first:
//! - raw splits (`H x W x C` uint8): the image resized to `W x H` (antialiased bilinear, the
//!   builder's resampler) when its size differs, as RGB or, for one channel, as PIL's luma;
//! - encoded splits (JPEG trees): the decoded RGB image, shrunk as the builder shrank the sources
//!   (the manifest's `max_side`: `--max-side` or the recipe's). The builder's JPEG re-encoding
//!   is not repeated (the evaluation transform resizes and crops anyway).

use crate::{Error, Result};
use lt_data::augment::{Augment, OutSlice};
use lt_data::builder::DEFAULT_MAX_PIXELS;
use lt_data::format::Layout;
use lt_data::image::{decode_rgb, resize_rgb};
use lt_data::rng::Rng;
use lt_data::stages::StageTimes;
use lt_data::transcode;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The files `inputs` names: files as given, directories walked (recursively) for files whose
/// extension is a format this build decodes, sorted by path. A directory without any is an
/// error.
pub fn list(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if !meta.is_dir() {
            files.push(input.clone());
            continue;
        }
        let mut found = Vec::new();
        walk(input, &mut found)?;
        if found.is_empty() {
            return Err(Error::Data(lt_data::Error::format(
                input,
                "no image files in this directory (jpeg, png)",
            )));
        }
        found.sort();
        files.append(&mut found);
    }
    Ok(files)
}

/// Appends the image files under `dir` to `out`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if image::ImageFormat::from_path(&path).is_ok_and(|f| f.reading_enabled()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Turns image files into a normalised batch for a model trained on a dataset whose samples
/// are stored as `layout`, with the dataset's evaluation transform `aug`.
pub struct Preprocess {
    layout: Layout,
    aug: Augment,
    /// The longer side the builder shrank sources to, if it did.
    max_side: Option<u32>,
}

impl Preprocess {
    pub fn new(layout: Layout, aug: Augment, max_side: Option<u32>) -> Self {
        Preprocess {
            layout,
            aug,
            max_side,
        }
    }

    /// The images `paths` as one `[N, C, H, W]` float batch (decoded in parallel); the first
    /// file that does not decode is the error.
    pub fn batch(&self, paths: &[PathBuf]) -> Result<Tensor> {
        let slots: Vec<(Vec<f32>, (usize, usize, usize))> = paths
            .par_iter()
            .map(|p| self.one(p))
            .collect::<Result<_>>()?;
        let Some(&(_, (h, w, c))) = slots.first() else {
            return Err(Error::Usage("no images to predict".into()));
        };
        let flat: Vec<f32> = slots.into_iter().flat_map(|(v, _)| v).collect();
        let n = paths.len() as i64;
        Ok(Tensor::from_slice(&flat).f_view([n, c as i64, h as i64, w as i64])?)
    }

    /// One image through the build-time preparation and the evaluation transform: CHW floats
    /// and the output's height, width, channels.
    fn one(&self, path: &Path) -> Result<(Vec<f32>, (usize, usize, usize))> {
        let (pixels, layout) = self.stored(path)?;
        let shape = self.aug.out_shape(layout)?;
        let mut out = vec![0f32; shape.0 * shape.1 * shape.2];
        let mut scratch = self.aug.scratch();
        // Evaluation draws nothing: the generator is never read.
        self.aug
            .apply(
                &pixels,
                layout,
                &mut Rng::new(0),
                &mut scratch,
                OutSlice::F32(&mut out),
            )
            .map_err(|e| lt_data::Error::format(path, e.to_string()))?;
        Ok((out, shape))
    }

    /// The pixels the dataset would store for the image file `path`, and their layout.
    fn stored(&self, path: &Path) -> Result<(Vec<u8>, Layout)> {
        let Layout::Raw {
            height,
            width,
            channels,
        } = self.layout
        else {
            // As the builder prepares a JPEG split's images (decoded at the DCT scale the
            // stored size allows, resized by the same resizer), before its re-encoding.
            let sample = lt_data::source::Sample {
                label: 0,
                pixels: lt_data::source::Pixels::File(path.to_path_buf()),
            };
            let times = StageTimes::new(transcode::STAGES);
            let img =
                transcode::decode_resized(&sample, self.max_side, DEFAULT_MAX_PIXELS, &times)?;
            let layout = Layout::Raw {
                height: img.height as u32,
                width: img.width as u32,
                channels: 3,
            };
            return Ok((img.bytes, layout));
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let img = decode_rgb(path, &bytes, DEFAULT_MAX_PIXELS)?;
        let img = if img.dimensions() == (width, height) {
            img
        } else {
            resize_rgb(&img, width, height)
        };
        let pixels = match channels {
            1 => luma(img.as_raw()),
            _ => img.into_raw(),
        };
        Ok((pixels, self.layout))
    }
}

/// Grey levels of RGB pixels as PIL's `convert("L")` computes them (ITU-R 601-2 weights in
/// 16-bit fixed point, rounded), so a colour image meets a greyscale model as it would in
/// Python; equal channels give that level back exactly.
fn luma(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| {
            let l = p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000;
            (l >> 16) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_is_pils() {
        // PIL: Image.new("RGB", (1, 1), c).convert("L").getpixel((0, 0)) for each colour.
        let px = [255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 100, 50, 7, 7, 7];
        assert_eq!(luma(&px), [76, 150, 29, 124, 7]);
    }

    #[test]
    fn sources_are_shrunk_to_the_builds_max_side_before_the_eval_transform() {
        let t = tempfile::tempdir().unwrap();
        let big = ::image::RgbImage::from_fn(400, 300, |x, y| {
            ::image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
        });
        let (orig, small) = (t.path().join("big.png"), t.path().join("small.png"));
        big.save(&orig).unwrap();
        // What the builder stored with --max-side 256 (before its JPEG re-encoding).
        let rgb = transcode::Rgb {
            width: 400,
            height: 300,
            bytes: big.into_raw(),
        };
        let stored = transcode::resize(&rgb, 256, 192).unwrap();
        ::image::RgbImage::from_raw(256, 192, stored.bytes)
            .unwrap()
            .save(&small)
            .unwrap();
        let jpeg = Layout::Encoded(lt_data::format::Encoding::Jpeg);
        let with = Preprocess::new(jpeg, Augment::imagenet(false), Some(256));
        let without = Preprocess::new(jpeg, Augment::imagenet(false), None);
        let shrunk = with.batch(std::slice::from_ref(&orig)).unwrap();
        assert!(shrunk.equal(&without.batch(&[small]).unwrap()));
        // Not shrinking would give another input (the eval resize starts from 400x300).
        assert!(!shrunk.equal(&without.batch(&[orig]).unwrap()));
    }

    #[test]
    fn directories_are_walked_for_image_files_in_path_order() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::create_dir_all(d.join("b/c")).unwrap();
        for f in ["b/c/z.PNG", "b/a.jpg", "a.jpeg", "notes.txt", "b/c/noext"] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        let single = d.join("notes.txt");
        let got = list(&[d.to_path_buf(), single.clone()]).unwrap();
        let want: Vec<PathBuf> = ["a.jpeg", "b/a.jpg", "b/c/z.PNG", "notes.txt"]
            .iter()
            .map(|f| d.join(f))
            .collect();
        // A file named on its own is taken as given (and fails at decoding if it is none).
        assert_eq!(got, want);
        std::fs::create_dir(d.join("empty")).unwrap();
        let e = list(&[d.join("empty")]).unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("no image files"), "{e}");
        let e = list(&[d.join("missing")]).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }
}
