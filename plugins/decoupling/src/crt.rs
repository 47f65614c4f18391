//! cRT, classifier re-training (Kang et al., ICLR 2020).

use crate::common::{float_features, NoConfig};
use lt_plugin::tch::Tensor;
use lt_plugin::{check, init, Config, DatasetInfo, Head, NamedTensor, Result};

/// cRT, classifier re-training: a freshly initialised linear classifier (weight and bias) trained
/// in stage 2 on frozen features, normally with a class-balanced sampler. It deliberately does
/// not take the stage-1 weights.
pub struct Crt {
    weight: Tensor,
    bias: Tensor,
}

impl Crt {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Crt> {
        let _: NoConfig = config.parse_or_default()?;
        let (k, d) = check::head_dims(data, "crt")?;
        let (weight, bias) = init::linear_layer(k, d, data.device, true)?;
        Ok(Crt { weight, bias })
    }
}

impl Head for Crt {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let f = float_features(features, self.weight.size()[1])?;
        Ok(f.f_linear(&self.weight, Some(&self.bias))?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[("weight", &self.weight, true), ("bias", &self.bias, true)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn crt_reinitialises_instead_of_taking_stage1_weights() {
        let d = 64;
        let h = Crt::new(&Config::default(), &info(10, d)).unwrap();
        assert!(
            !h.wants_linear_init(),
            "cRT must not be initialised from the stage-1 classifier"
        );
        let n = h.named_tensors();
        assert!(n.iter().all(|n| n.trainable));
        let w = &n[0].tensor;
        let bound = 1.0 / (d as f64).sqrt();
        let max = w.abs().max().double_value(&[]);
        let std = w.std(true).double_value(&[]);
        assert!(
            max <= bound && max > 0.5 * bound,
            "max |w| {max}, bound {bound}"
        );
        // U(-a, a) has std a / sqrt(3).
        assert!((std - bound / 3f64.sqrt()).abs() < 0.1 * bound, "std {std}");
        // A second head draws different weights.
        let h2 = Crt::new(&Config::default(), &info(10, d)).unwrap();
        assert!(!w.allclose(&h2.named_tensors()[0].tensor, 1e-6, 1e-6, false));
    }
}
