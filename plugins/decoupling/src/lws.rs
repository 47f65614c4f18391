//! Learnable weight scaling of the frozen stage-1 classifier (Kang et al., ICLR 2020).
//!
//! The stage-1 classifier (weight and bias) is frozen and a per-class scale f_i, initialised to
//! 1, is learnt: logits_i = f_i * (w_i . x + b_i), as their `TauNormClassifier.py` (fc frozen,
//! `x *= scales`). The head is the SDK's [`ScaledLinear`] with the classifier frozen.

use crate::common::NoConfig;
use lt_plugin::{Config, DatasetInfo, Result, ScaledLinear};

/// The `lws` component: no options; `feature_dim` must be known.
pub fn new(config: &Config, data: &DatasetInfo) -> Result<ScaledLinear> {
    let _: NoConfig = config.parse_or_default()?;
    ScaledLinear::new(data, "lws", false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use lt_plugin::tch::{self, Kind, Tensor};
    use lt_plugin::Head;

    #[test]
    fn lws_with_unit_scales_is_the_stage1_head_and_only_scales_train() {
        let (w, b) = stage1();
        let x = two_features();
        let mut h = new(&Config::default(), &info(3, 2)).unwrap();
        h.init_from_linear(&w, Some(&b)).unwrap();
        let plain = stage1_logits(&x, true);
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
