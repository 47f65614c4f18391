//! The tau-normalised classifier (Kang et al., ICLR 2020): stage-1 weights over their norm to
//! the power tau, no training.

use crate::common::float_features;
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, copy_linear, init, Config, DatasetInfo, Error, Head, NamedTensor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TauConfig {
    tau: f64,
    bias: bool,
}

impl Default for TauConfig {
    fn default() -> Self {
        TauConfig {
            tau: 1.0,
            bias: false,
        }
    }
}

/// tau-normalised classifier: w_i <- w_i / ||w_i||^tau on the stage-1 weights, no training.
/// Their `tau_norm.py` drops the bias (logits = x . w_i / ||w_i||^tau); so do we unless
/// `bias = true`. tau = 0 is the stage-1 classifier without its bias; tau = 1 is a cosine-style
/// classifier with unit-norm weights.
pub struct TauNorm {
    weight: Tensor,
    bias: Tensor,
    tau: f64,
    use_bias: bool,
}

impl TauNorm {
    /// Config: `tau` (default 1.0, >= 0), `bias` (default false).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<TauNorm> {
        let c: TauConfig = config.parse_or_default()?;
        if !(c.tau.is_finite() && c.tau >= 0.0) {
            return Err(Error::Config(format!(
                "tau must be a number >= 0, got {}",
                c.tau
            )));
        }
        let (k, d) = check::head_dims(data, "tau-norm")?;
        Ok(TauNorm {
            weight: init::linear(&[k, d], d, data.device)?.set_requires_grad(false),
            bias: Tensor::f_zeros([k], (Kind::Float, data.device))?,
            tau: c.tau,
            use_bias: c.bias,
        })
    }
}

impl Head for TauNorm {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let f = float_features(features, self.weight.size()[1])?;
        let norms = self
            .weight
            .f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?
            .f_clamp_min(1e-12)?
            .f_pow_tensor_scalar(self.tau)?;
        let w = self.weight.f_div(&norms)?;
        Ok(f.f_linear(&w, self.use_bias.then_some(&self.bias))?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[("weight", &self.weight, false), ("bias", &self.bias, false)])
    }
    fn wants_linear_init(&self) -> bool {
        true
    }
    fn init_from_linear(&mut self, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
        copy_linear((&self.weight, &self.bias), weight, bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn tau_zero_is_the_plain_head_without_bias_and_tau_one_unit_norm() {
        let (w, b) = stage1();
        let x = two_features();
        let mut h = TauNorm::new(&cfg(r#"{"tau": 0.0}"#), &info(3, 2)).unwrap();
        assert!(h.wants_linear_init() && h.named_tensors().iter().all(|n| !n.trainable));
        h.init_from_linear(&w, Some(&b)).unwrap();
        assert!(close(
            &h.forward(&x, false).unwrap(),
            &stage1_logits(&x, false)
        ));
        let mut hb = TauNorm::new(&cfg(r#"{"tau": 0.0, "bias": true}"#), &info(3, 2)).unwrap();
        hb.init_from_linear(&w, Some(&b)).unwrap();
        assert!(close(
            &hb.forward(&x, false).unwrap(),
            &stage1_logits(&x, true)
        ));
        // tau = 1, by hand: norms 5, 1, sqrt 8; x0 = (1, 2): 11/5, 2/1, 2/sqrt(8).
        let mut h1 = TauNorm::new(&cfg("{}"), &info(3, 2)).unwrap();
        h1.init_from_linear(&w, Some(&b)).unwrap();
        let l = h1.forward(&x, false).unwrap();
        for (c, want) in [11.0 / 5.0, 2.0, 2.0 / 8f64.sqrt()].iter().enumerate() {
            assert!((l.double_value(&[0, c as i64]) - want).abs() < 1e-5);
        }
        // tau = 0.5: x0 . w0 / sqrt(5).
        let mut hh = TauNorm::new(&cfg(r#"{"tau": 0.5}"#), &info(3, 2)).unwrap();
        hh.init_from_linear(&w, None).unwrap();
        assert!(
            (hh.forward(&x, false).unwrap().double_value(&[0, 0]) - 11.0 / 5f64.sqrt()).abs()
                < 1e-5
        );
        assert!(TauNorm::new(&cfg(r#"{"tau": -1}"#), &info(3, 2)).is_err());
    }
}
