//! One expert's classifier on its branch's pooled features.
//!
//! SADE's CIFAR ResNet-32 (`use_norm`) uses a cosine classifier times a fixed scale:
//! `z_c = s <x/|x|, w_c/|w_c|>` with s = 30, no bias, class vectors drawn uniformly in [-1, 1]
//! and scaled to unit length. Without `use_norm` it is a plain linear layer (weight drawn
//! Kaiming-normal, N(0, 2/D), as the official network initialises every linear layer; bias
//! PyTorch's default U(-1/sqrt D, 1/sqrt D)) and no scale. The cosine math is the SDK's
//! [`lt_plugin::cosine`].

use lt_plugin::cosine::{cosine_logits, init_cosine_weight};
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{check, init, DatasetInfo, NamedTensor, Result};

/// A cosine (normed) or linear classifier [K, D].
pub struct ExpertClassifier {
    weight: Tensor,
    /// Only for the linear variant.
    bias: Option<Tensor>,
    /// The logit scale s of the cosine variant (1 for the linear one).
    scale: f64,
}

impl ExpertClassifier {
    /// A cosine classifier with logit scale `scale`, unit-length random class vectors.
    pub fn cosine(data: &DatasetInfo, scale: f64) -> Result<ExpertClassifier> {
        let (k, d) = check::head_dims(data, "the sade model")?;
        Ok(ExpertClassifier {
            weight: init_cosine_weight(k, d, data.device)?,
            bias: None,
            scale,
        })
    }

    /// A linear classifier with a bias and no scale.
    pub fn linear(data: &DatasetInfo) -> Result<ExpertClassifier> {
        let (k, d) = check::head_dims(data, "the sade model")?;
        let std = (2.0 / d as f64).sqrt();
        let weight = Tensor::f_randn([k, d], (Kind::Float, data.device))?
            .f_mul_scalar(std)?
            .set_requires_grad(true);
        let bias = init::linear(&[k], d, data.device)?.set_requires_grad(true);
        Ok(ExpertClassifier {
            weight,
            bias: Some(bias),
            scale: 1.0,
        })
    }

    /// Logits [B, K] of features [B, D] (computed in the features' kind).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        check::features(features, self.weight.size()[1])?;
        match &self.bias {
            Some(b) => {
                let kind = features.kind();
                let w = self.weight.f_to_kind(kind)?;
                Ok(features.f_linear(&w, Some(&b.f_to_kind(kind)?))?)
            }
            None => cosine_logits(features, &self.weight, self.scale),
        }
    }

    /// The classifier's tensors, named `{prefix}.weight` (and `{prefix}.bias`), all trainable.
    pub fn named_tensors(&self, prefix: &str) -> Vec<NamedTensor> {
        let mut out = NamedTensor::list(&[(&format!("{prefix}.weight"), &self.weight, true)]);
        if let Some(b) = &self.bias {
            out.extend(NamedTensor::list(&[(&format!("{prefix}.bias"), b, true)]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::Device;

    #[test]
    fn cosine_logits_by_hand() {
        let data = DatasetInfo::for_test(vec![2, 1]).with_feature_dim(2);
        let c = ExpertClassifier::cosine(&data, 30.0).unwrap();
        let w = Tensor::from_slice(&[3.0f32, 4.0, 0.0, -2.0]).reshape([2, 2]);
        lt_plugin::tch::no_grad(|| c.weight.shallow_clone().copy_(&w));
        let x = Tensor::from_slice(&[2.0f32, 0.0, 1.0, 1.0]).reshape([2, 2]);
        // cos([1,0],[3,4]) = 0.6, cos([1,0],[0,-2]) = 0, cos([1,1],[3,4]) = 7/(5 sqrt 2),
        // cos([1,1],[0,-2]) = -1/sqrt 2; times s = 30: 18, 0, 29.698485, -21.213203.
        // PyTorch: 30 * F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
        let want = [18.0, 0.0, 29.698484809834998, -21.213203435596427];
        let got: Vec<f64> = Vec::try_from(c.forward(&x).unwrap().reshape([-1])).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "{got:?}");
        }
        let e = c.forward(&Tensor::zeros([2, 3], (Kind::Float, Device::Cpu)));
        assert_eq!(
            e.unwrap_err().to_string(),
            "expected features [B,2], got [2, 3]"
        );
    }

    #[test]
    fn init_shapes_and_tensor_names() {
        let data = DatasetInfo::for_test(vec![5, 3, 2, 1]).with_feature_dim(16);
        let c = ExpertClassifier::cosine(&data, 30.0).unwrap();
        let t = c.named_tensors("expert2");
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].name.as_str(), t[0].trainable),
            ("expert2.weight", true)
        );
        let norms = t[0].tensor.norm_scalaropt_dim(2, [1i64].as_slice(), false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
        let l = ExpertClassifier::linear(&data).unwrap();
        let names: Vec<String> = l.named_tensors("e").into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["e.weight", "e.bias"]);
        let x = Tensor::ones([3, 16], (Kind::Float, Device::Cpu));
        // Linear: x W^T + b.
        let want = x.mm(&l.weight.tr()) + l.bias.as_ref().unwrap();
        let diff = (l.forward(&x).unwrap() - want)
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-6);
        let no_dim = DatasetInfo::for_test(vec![2, 1]);
        assert!(ExpertClassifier::cosine(&no_dim, 30.0).is_err());
    }
}
