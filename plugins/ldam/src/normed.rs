//! The cosine classifier LDAM-DRW uses on CIFAR (`NormedLinear` in the authors' code, switched on
//! with the LDAM loss): `z_c = scale * <x/|x|, w_c/|w_c|>`, no bias. Bounding the logits to
//! [-scale, scale] is what makes the fixed margins (up to 0.5) and the loss scale s = 30
//! meaningful. With the `ldam` loss keep `scale = 1` (the loss applies s). The math is the SDK's
//! [`lt_plugin::cosine`].

use lt_plugin::cosine::{cosine_logits, init_cosine_weight};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, Config, DatasetInfo, Error, Head, NamedTensor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NormedConfig {
    scale: f64,
}

impl Default for NormedConfig {
    fn default() -> Self {
        NormedConfig { scale: 1.0 }
    }
}

pub struct NormedLinear {
    /// Class directions [K, D]; only their direction matters.
    weight: Tensor,
    scale: f64,
}

impl NormedLinear {
    /// The `normed-linear` component: weights drawn uniformly in [-1, 1] and scaled to unit rows,
    /// as the authors initialise them (tch's generator, seeded by the trainer).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<NormedLinear> {
        let c: NormedConfig = config.parse()?;
        check::positive("scale", c.scale)?;
        if data.feature_dim == 0 || data.num_classes == 0 {
            return Err(Error::Data(format!(
                "needs the feature width and the class count, got D = {}, K = {}",
                data.feature_dim, data.num_classes
            )));
        }
        let (k, d) = (data.num_classes as i64, data.feature_dim as i64);
        let weight = init_cosine_weight(k, d, data.device)?;
        Ok(NormedLinear {
            weight,
            scale: c.scale,
        })
    }
}

impl Head for NormedLinear {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let (_, d) = features.size2()?;
        let (_, wd) = self.weight.size2()?;
        if d != wd {
            return Err(Error::Input(format!(
                "features have width {d}, the head expects {wd}"
            )));
        }
        // With scale 1 the product by 1.0 leaves every value (and gradient) as it was.
        cosine_logits(features, &self.weight, self.scale)
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[("weight", &self.weight, true)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::{Device, Kind};

    fn data(k: usize, d: usize) -> DatasetInfo {
        DatasetInfo::for_test(vec![1; k]).with_feature_dim(d)
    }

    #[test]
    fn logits_are_cosines_by_hand() {
        let mut h = NormedLinear::new(&Config::from_json("{}").unwrap(), &data(2, 2)).unwrap();
        let w = Tensor::from_slice(&[3.0f32, 4.0, 0.0, -2.0]).reshape([2, 2]);
        lt_plugin::tch::no_grad(|| h.weight.copy_(&w));
        let x = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0]).reshape([2, 2]);
        let z = h.forward(&x, true).unwrap();
        // cos([1,0],[3,4]) = 0.6; cos([1,0],[0,-2]) = 0; cos([1,1],[3,4]) = 7/(5 sqrt2);
        // cos([1,1],[0,-2]) = -1/sqrt2.
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let want = [0.6, 0.0, 1.4 * r, -r];
        let got: Vec<f64> = Vec::try_from(z.reshape([-1]).to_kind(Kind::Double)).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        // Scale multiplies, and invariance to the norms of inputs and weights.
        let mut s = NormedLinear::new(&Config::from_json(r#"{"scale": 16}"#).unwrap(), &data(2, 2))
            .unwrap();
        lt_plugin::tch::no_grad(|| s.weight.copy_(&(&w * 7.0)));
        let z2 = s.forward(&(&x * 0.01), false).unwrap();
        assert!((z2 - z * 16.0).abs().max().double_value(&[]) < 1e-4);
    }

    #[test]
    fn init_has_unit_rows_and_is_trainable() {
        let h = NormedLinear::new(&Config::from_json("{}").unwrap(), &data(5, 8)).unwrap();
        let t = h.named_tensors();
        assert_eq!(t.len(), 1);
        assert!(t[0].trainable && t[0].tensor.requires_grad());
        assert_eq!(t[0].tensor.size(), [5, 8]);
        let norms = t[0].tensor.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
        // Gradients reach the weight through the normalisation.
        let mut h = h;
        let x = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        h.forward(&x, true).unwrap().sum(Kind::Float).backward();
        assert!(t[0].tensor.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(h
            .forward(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)), true)
            .is_err());
        assert!(NormedLinear::new(&Config::from_json("{}").unwrap(), &data(5, 0)).is_err());
    }
}
