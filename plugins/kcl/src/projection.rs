//! The projection head of the contrastive loss: backbone features [N,D] to embeddings [N,P].
//! It belongs to the loss (trained with stage 1, checkpointed, unused by the classifier).

use lt_plugin::tch::Tensor;
use lt_plugin::{init, NamedTensor, Result};

/// `x -> W2 relu(W1 x + b1) + b2` (D -> D -> P, the SupCon / MoCo v2 head), `x -> W x + b`
/// (D -> P), or the identity (unit tests only).
pub enum Projection {
    Mlp {
        w1: Tensor,
        b1: Tensor,
        w2: Tensor,
        b2: Tensor,
    },
    Linear {
        w: Tensor,
        b: Tensor,
    },
    Identity,
}

impl Projection {
    /// A trainable head with PyTorch's default linear initialisation (tch's seeded generator).
    pub fn new(d: i64, p: i64, mlp: bool, device: lt_plugin::tch::Device) -> Result<Projection> {
        if mlp {
            let (w1, b1) = init::linear_layer(d, d, device, true)?;
            let (w2, b2) = init::linear_layer(p, d, device, true)?;
            Ok(Projection::Mlp { w1, b1, w2, b2 })
        } else {
            let (w, b) = init::linear_layer(p, d, device, true)?;
            Ok(Projection::Linear { w, b })
        }
    }

    /// The embeddings [N,P] of features [N,D] (weights cast to the features' kind).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let lin = |x: &Tensor, w: &Tensor, b: &Tensor| -> Result<Tensor> {
            let k = x.kind();
            Ok(x.f_linear(&w.f_to_kind(k)?, Some(&b.f_to_kind(k)?))?)
        };
        match self {
            Projection::Mlp { w1, b1, w2, b2 } => lin(&lin(x, w1, b1)?.f_relu()?, w2, b2),
            Projection::Linear { w, b } => lin(x, w, b),
            Projection::Identity => Ok(x.shallow_clone()),
        }
    }

    /// The head's parameters, all trainable.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        match self {
            Projection::Mlp { w1, b1, w2, b2 } => NamedTensor::list(&[
                ("proj.0.weight", w1, true),
                ("proj.0.bias", b1, true),
                ("proj.2.weight", w2, true),
                ("proj.2.bias", b2, true),
            ]),
            Projection::Linear { w, b } => {
                NamedTensor::list(&[("proj.weight", w, true), ("proj.bias", b, true)])
            }
            Projection::Identity => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::{Device, Kind};

    #[test]
    fn mlp_is_relu_between_two_linear_layers() {
        let p = Projection::new(2, 3, true, Device::Cpu).unwrap();
        let t = p.named_tensors();
        let shapes: Vec<Vec<i64>> = t.iter().map(|n| n.tensor.size()).collect();
        assert_eq!(shapes, vec![vec![2, 2], vec![2], vec![3, 2], vec![3]]);
        assert!(t.iter().all(|n| n.trainable && n.tensor.requires_grad()));
        let x = Tensor::from_slice(&[1.0f64, -2.0]).reshape([1, 2]);
        let (w1, b1, w2, b2) = (&t[0].tensor, &t[1].tensor, &t[2].tensor, &t[3].tensor);
        let d = |t: &Tensor| t.to_kind(Kind::Double);
        let h = (x.mm(&d(w1).tr()) + d(b1)).relu();
        let want = h.mm(&d(w2).tr()) + d(b2);
        let got = p.forward(&x).unwrap();
        assert!((got - want).abs().max().double_value(&[]) < 1e-12);
        let l = Projection::new(4, 2, false, Device::Cpu).unwrap();
        assert_eq!(l.named_tensors()[0].tensor.size(), [2, 4]);
        assert!(Projection::Identity.named_tensors().is_empty());
    }
}
