//! The cosine classifier (the reference `CosNorm_Classifier`, from OLTR).

use crate::common::float_features;
use lt_plugin::cosine::rows_normalized;
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, init, Config, DatasetInfo, Head, NamedTensor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CosineConfig {
    scale: f64,
    squash: bool,
    learn_scale: bool,
}

impl Default for CosineConfig {
    fn default() -> Self {
        CosineConfig {
            scale: 16.0,
            squash: true,
            learn_scale: false,
        }
    }
}

/// Cosine classifier (the reference `CosNorm_Classifier`, from OLTR): logits_i =
/// s * <g(x), w_i / ||w_i||> with g(x) = ||x|| / (1 + ||x||) * x / ||x|| ("squash", default) or
/// x / ||x||. Weights trainable, initialised U(-1/sqrt(D), 1/sqrt(D)); s = `scale` (16), fixed
/// unless `learn_scale = true`.
pub struct Cosine {
    weight: Tensor,
    scale: Tensor,
    squash: bool,
    learn_scale: bool,
}

impl Cosine {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Cosine> {
        let c: CosineConfig = config.parse_or_default()?;
        check::positive("scale", c.scale)?;
        let (k, d) = check::head_dims(data, "cosine")?;
        Ok(Cosine {
            weight: init::linear(&[k, d], d, data.device)?.set_requires_grad(true),
            scale: Tensor::f_full([1], c.scale, (Kind::Float, data.device))?
                .set_requires_grad(c.learn_scale),
            squash: c.squash,
            learn_scale: c.learn_scale,
        })
    }
}

impl Head for Cosine {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let f = float_features(features, self.weight.size()[1])?;
        let mut x = rows_normalized(&f)?;
        if self.squash {
            let n = f.f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?;
            x = x.f_mul(&n.f_div(&n.f_add_scalar(1.0)?)?)?;
        }
        let w = rows_normalized(&self.weight)?;
        Ok(x.f_matmul(&w.f_tr()?)?.f_mul(&self.scale)?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("weight", &self.weight, true),
            ("scale", &self.scale, self.learn_scale),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use lt_plugin::tch;

    #[test]
    fn cosine_head_by_hand() {
        let mut h = Cosine::new(&cfg(r#"{"scale": 10, "squash": false}"#), &info(2, 2)).unwrap();
        let w = &h.named_tensors()[0].tensor;
        tch::no_grad(|| w.shallow_clone().copy_(&t(&[2.0, 0.0, 0.0, -3.0], [2, 2])));
        // x = (3, 4): cosines 3/5 and -4/5.
        let l = h.forward(&t(&[3.0, 4.0], [1, 2]), false).unwrap();
        assert!(
            (l.double_value(&[0, 0]) - 6.0).abs() < 1e-5
                && (l.double_value(&[0, 1]) + 8.0).abs() < 1e-5
        );
        let mut s = Cosine::new(&cfg(r#"{"scale": 10}"#), &info(2, 2)).unwrap();
        tch::no_grad(|| {
            s.named_tensors()[0]
                .tensor
                .shallow_clone()
                .copy_(&t(&[2.0, 0.0, 0.0, -3.0], [2, 2]))
        });
        // Squashed: |x| = 5 scales by 5/6.
        let l = s.forward(&t(&[3.0, 4.0], [1, 2]), false).unwrap();
        assert!((l.double_value(&[0, 0]) - 5.0).abs() < 1e-5);
        assert!(!s.named_tensors()[1].trainable);
    }
}
