//! A linear classifier times learnable per-class scales, `logits = (x W^T + b) * scales`: the
//! head of learnable weight scaling (LWS), whether the classifier keeps training (MiSLAS) or
//! stays frozen (Decoupling). A plugin's constructor parses its config and calls
//! [`ScaledLinear::new`].

use crate::{check, copy_linear, init, DatasetInfo, Head, NamedTensor, Result};
use tch::{Kind, Tensor};

/// The LWS head: weight [K, D], bias [K], scales [K].
pub struct ScaledLinear {
    weight: Tensor,
    bias: Tensor,
    scales: Tensor,
    train_classifier: bool,
}

impl ScaledLinear {
    /// PyTorch's default `nn.Linear` initialisation ([`init::linear_layer`]) until
    /// `init_from_linear` copies the stage-1 classifier in, and scales 1. The scales always
    /// train; the weight and bias when `train_classifier`. `what` names the head in errors.
    pub fn new(data: &DatasetInfo, what: &str, train_classifier: bool) -> Result<ScaledLinear> {
        let (k, d) = check::head_dims(data, what)?;
        let (weight, bias) = init::linear_layer(k, d, data.device, train_classifier)?;
        let scales = Tensor::f_ones([k], (Kind::Float, data.device))?.set_requires_grad(true);
        Ok(ScaledLinear {
            weight,
            bias,
            scales,
            train_classifier,
        })
    }
}

impl Head for ScaledLinear {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        check::features(features, self.weight.size()[1])?;
        let f = features.f_to_kind(Kind::Float)?;
        Ok(f.f_linear(&self.weight, Some(&self.bias))?
            .f_mul(&self.scales)?)
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("weight", &self.weight, self.train_classifier),
            ("bias", &self.bias, self.train_classifier),
            ("scales", &self.scales, true),
        ])
    }

    fn wants_linear_init(&self) -> bool {
        true
    }

    /// The stage-1 classifier, and the scales back to 1.
    fn init_from_linear(&mut self, weight: &Tensor, bias: Option<&Tensor>) -> Result<()> {
        copy_linear((&self.weight, &self.bias), weight, bias)?;
        let _ = tch::no_grad(|| self.scales.shallow_clone().f_fill_(1.0))?;
        Ok(())
    }
}
