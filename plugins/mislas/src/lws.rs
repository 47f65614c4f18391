//! Learnable weight scaling as MiSLAS stage 2 uses it: the stage-1 linear classifier keeps
//! training (its weight and bias, at `lr * lr_factor` in the official code) and a per-class scale
//! vector, initialised to 1, multiplies its logits: logits = (x W^T + b) * scales.
//!
//! This differs from Kang et al.'s LWS (plugin `decoupling`), where the classifier is frozen and
//! only the scales learn; both are the SDK's [`ScaledLinear`].

use lt_plugin::{Config, DatasetInfo, Result, ScaledLinear};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LwsConfig {}

/// The `lws` head component. No options; `feature_dim` must be known. Until `init_from_linear`
/// runs, the classifier has PyTorch's default `nn.Linear` initialisation, so the head also works
/// on its own.
pub fn new(config: &Config, data: &DatasetInfo) -> Result<ScaledLinear> {
    let _: LwsConfig = config.parse_or_default()?;
    ScaledLinear::new(data, "lws", true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::{Device, Kind, Tensor};
    use lt_plugin::Head;

    fn info() -> DatasetInfo {
        DatasetInfo::for_test(vec![50, 10, 2]).with_feature_dim(4)
    }

    #[test]
    fn unit_scales_reproduce_the_stage1_head_and_scales_multiply_logits() {
        let mut h = new(&Config::default(), &info()).unwrap();
        let w = Tensor::from_slice(&[
            0.5f32, -1.0, 0.0, 2.0, 1.0, 1.0, -0.5, 0.0, 0.3, 0.2, 0.1, -0.4,
        ])
        .reshape([3, 4]);
        let b = Tensor::from_slice(&[0.1f32, -0.2, 0.3]);
        h.init_from_linear(&w, Some(&b)).unwrap();
        let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5, 0.0, 1.0, 1.0, 1.0]).reshape([2, 4]);
        let got = h.forward(&x, false).unwrap();
        let want = x.matmul(&w.tr()) + &b;
        assert!(got.allclose(&want, 1e-6, 1e-6, false));
        // By hand, first sample, class 0: 0.5 - 2 + 0 + 1 + 0.1 = -0.4.
        assert!((got.double_value(&[0, 0]) + 0.4).abs() < 1e-6);
        // The head owns copies: changing the stage-1 tensors does not reach it.
        let _ = w.shallow_clone().f_mul_scalar_(0.0).unwrap();
        assert!(h
            .forward(&x, false)
            .unwrap()
            .allclose(&want, 1e-6, 1e-6, false));
        // Scales act per class.
        let named = h.named_tensors();
        assert_eq!(
            named.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["weight", "bias", "scales"]
        );
        assert!(named.iter().all(|n| n.trainable));
        let s = &named[2].tensor;
        lt_plugin::tch::no_grad(|| {
            s.shallow_clone()
                .copy_(&Tensor::from_slice(&[2.0f32, 1.0, 0.5]))
        });
        let scaled = h.forward(&x, false).unwrap();
        assert!(scaled.allclose(
            &(want * Tensor::from_slice(&[2.0f32, 1.0, 0.5])),
            1e-6,
            1e-6,
            false
        ));
    }

    #[test]
    fn gradients_reach_weight_bias_and_scales() {
        let mut h = new(&Config::default(), &info()).unwrap();
        let x = Tensor::ones([2, 4], (Kind::Float, Device::Cpu));
        h.forward(&x, true).unwrap().sum(Kind::Float).backward();
        for n in h.named_tensors() {
            assert!(n.tensor.grad().defined(), "{} has no gradient", n.name);
        }
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let mut h = new(&Config::default(), &info()).unwrap();
        let e = h
            .init_from_linear(&Tensor::zeros([3, 5], (Kind::Float, Device::Cpu)), None)
            .unwrap_err();
        assert!(e.to_string().contains("shape"), "{e}");
        let e = h
            .forward(&Tensor::zeros([2, 5], (Kind::Float, Device::Cpu)), false)
            .unwrap_err();
        assert!(e.to_string().contains("expected features"), "{e}");
        let mut i = info();
        i.feature_dim = 0;
        assert!(new(&Config::default(), &i).is_err());
    }
}
