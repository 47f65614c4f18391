//! Learnable weight scaling of the frozen stage-1 classifier (Kang et al., ICLR 2020).

use crate::common::{float_features, NoConfig};
use lt_plugin::tch::{self, Kind, Tensor};
use lt_plugin::{check, copy_linear, init, Config, DatasetInfo, Head, NamedTensor, Result};

/// Kang et al.'s learnable weight scaling: the stage-1 classifier (weight and bias) is frozen and
/// a per-class scale f_i, initialised to 1, is learnt: logits_i = f_i * (w_i . x + b_i), as
/// their `TauNormClassifier.py` (fc frozen, `x *= scales`).
pub struct Lws {
    weight: Tensor,
    bias: Tensor,
    scales: Tensor,
}

impl Lws {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Lws> {
        let _: NoConfig = config.parse_or_default()?;
        let (k, d) = check::head_dims(data, "lws")?;
        let (weight, bias) = init::linear_layer(k, d, data.device, false)?;
        Ok(Lws {
            weight,
            bias,
            scales: Tensor::f_ones([k], (Kind::Float, data.device))?.set_requires_grad(true),
        })
    }
}

impl Head for Lws {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let f = float_features(features, self.weight.size()[1])?;
        Ok(f.f_linear(&self.weight, Some(&self.bias))?
            .f_mul(&self.scales)?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("weight", &self.weight, false),
            ("bias", &self.bias, false),
            ("scales", &self.scales, true),
        ])
    }
    fn wants_linear_init(&self) -> bool {
        true
    }
    fn init_from_linear(&mut self, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
        copy_linear((&self.weight, &self.bias), weight, bias)?;
        let _ = tch::no_grad(|| self.scales.shallow_clone().f_fill_(1.0))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn lws_with_unit_scales_is_the_stage1_head_and_only_scales_train() {
        let (w, b) = stage1();
        let x = t(&[1.0, 2.0, -1.0, 0.5], [2, 2]);
        let mut h = Lws::new(&Config::default(), &info(3, 2)).unwrap();
        h.init_from_linear(&w, Some(&b)).unwrap();
        let plain = x.matmul(&w.tr()) + &b;
        assert!(close(&h.forward(&x, false).unwrap(), &plain));
        let n = h.named_tensors();
        assert_eq!(
            n.iter()
                .map(|n| (n.name.as_str(), n.trainable))
                .collect::<Vec<_>>(),
            [("weight", false), ("bias", false), ("scales", true)]
        );
        h.forward(&x, true).unwrap().sum(Kind::Float).backward();
        assert!(n[2].tensor.grad().defined() && !n[0].tensor.grad().defined());
        tch::no_grad(|| {
            n[2].tensor
                .shallow_clone()
                .copy_(&Tensor::from_slice(&[2.0f32, 0.0, 1.0]))
        });
        let scaled = h.forward(&x, false).unwrap();
        assert!(close(
            &scaled,
            &(plain * Tensor::from_slice(&[2.0f32, 0.0, 1.0]))
        ));
    }
}
