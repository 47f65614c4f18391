//! Colour jitter (torchvision's `ColorJitter(0.4, 0.4, 0.4)`): brightness, contrast and
//! saturation blends in a random order, on RGB HWC floats in [0, 255].

use crate::rng::Rng;

/// Colour jitter draw: the order of the three operations and their factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    /// Permutation of 0 = brightness, 1 = contrast, 2 = saturation.
    pub order: [u8; 3],
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
}

/// Draws the order and the three factors, each uniform in [1 - strength, 1 + strength].
pub(super) fn draw_jitter(rng: &mut Rng, strength: f32) -> Jitter {
    let mut order = [0u8, 1, 2];
    rng.shuffle(&mut order);
    let lo = (1.0 - strength).max(0.0) as f64;
    let hi = (1.0 + strength) as f64;
    Jitter {
        order,
        brightness: rng.uniform(lo, hi) as f32,
        contrast: rng.uniform(lo, hi) as f32,
        saturation: rng.uniform(lo, hi) as f32,
    }
}

/// ITU-R 601 luma, as PIL's `convert("L")` and torchvision's `rgb_to_grayscale`.
fn gray(p: &[f32]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

/// The mean luma of an RGB HWC image: the luma of the channel means (luma is linear), summed
/// per channel in f64.
fn gray_mean(img: &[f32]) -> f32 {
    let mut sum = [0f64; 3];
    for p in img.chunks_exact(3) {
        sum[0] += p[0] as f64;
        sum[1] += p[1] as f64;
        sum[2] += p[2] as f64;
    }
    let n = (img.len() / 3).max(1) as f64;
    (0.299 * sum[0] / n + 0.587 * sum[1] / n + 0.114 * sum[2] / n) as f32
}

/// Brightness, contrast and saturation blends on an RGB HWC image in [0, 255], in the drawn
/// order, clamping after each as torchvision does.
pub fn color_jitter(img: &mut [f32], j: &Jitter) {
    for op in j.order {
        match op {
            0 => {
                let b = j.brightness;
                img.iter_mut().for_each(|x| *x = (*x * b).clamp(0.0, 255.0));
            }
            1 => {
                let mean = gray_mean(img);
                let (c, off) = (j.contrast, (1.0 - j.contrast) * mean);
                img.iter_mut()
                    .for_each(|x| *x = (c * *x + off).clamp(0.0, 255.0));
            }
            _ => {
                let s = j.saturation;
                for p in img.chunks_exact_mut(3) {
                    let g = (1.0 - s) * gray(p);
                    p[0] = (s * p[0] + g).clamp(0.0, 255.0);
                    p[1] = (s * p[1] + g).clamp(0.0, 255.0);
                    p[2] = (s * p[2] + g).clamp(0.0, 255.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_jitter_operations_match_hand_computed_values() {
        let px = [200.0f32, 100.0, 50.0, 0.0, 0.0, 0.0];
        let only = |order: [u8; 3], b, c, s| {
            let mut img = px;
            color_jitter(
                &mut img,
                &Jitter {
                    order,
                    brightness: b,
                    contrast: c,
                    saturation: s,
                },
            );
            img
        };
        // Brightness 1.4 alone (others at 1): scaled and clamped.
        assert_eq!(
            only([0, 1, 2], 1.4, 1.0, 1.0),
            [255.0, 140.0, 70.0, 0.0, 0.0, 0.0]
        );
        // Saturation 0: every pixel becomes its luma.
        let g = 0.299 * 200.0 + 0.587 * 100.0 + 0.114 * 50.0;
        let s0 = only([2, 0, 1], 1.0, 1.0, 0.0);
        assert!(s0[..3].iter().all(|&x| (x - g).abs() < 1e-3) && s0[3..] == [0.0; 3]);
        // Contrast 0: every pixel becomes the mean luma of the image.
        let c0 = only([1, 2, 0], 1.0, 0.0, 1.0);
        assert!(c0.iter().all(|&x| (x - g / 2.0).abs() < 1e-3), "{c0:?}");
        // Draws stay within 1 +- 0.4 and use every order.
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let j = draw_jitter(&mut rng, 0.4);
            for f in [j.brightness, j.contrast, j.saturation] {
                assert!((0.6..1.4).contains(&f));
            }
            let mut o = j.order;
            o.sort();
            assert_eq!(o, [0, 1, 2]);
        }
    }
}
