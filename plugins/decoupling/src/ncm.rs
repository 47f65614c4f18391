//! The nearest-class-mean classifier (Kang et al., ICLR 2020), fitted on the training features.

use crate::common::float_features;
use lt_plugin::cosine::rows_normalized;
use lt_plugin::tch::{self, Kind, Tensor};
use lt_plugin::{check, Config, DatasetInfo, Error, Head, NamedTensor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NcmConfig {
    feat_type: String,
    dist: String,
}

impl Default for NcmConfig {
    fn default() -> Self {
        NcmConfig {
            feat_type: "cl2n".into(),
            dist: "l2".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FeatType {
    /// Raw features.
    Un,
    /// L2-normalised.
    L2n,
    /// Centred on the training-feature mean, then L2-normalised (the reference default).
    Cl2n,
}

/// Nearest class mean: class centroids of the (transformed) training features; the logit of a
/// class is the negative squared Euclidean distance to its centroid (`dist = "l2"`), or the
/// cosine similarity between feature and centroid (`dist = "cos"`). As the reference
/// `KNNClassifier`, centroids are means of the transformed features and are not re-normalised
/// for "l2". Their "cos" is a plain dot product divided by D; ours is the true cosine the paper
/// describes.
pub struct Ncm {
    centroids: Tensor,
    feat_mean: Tensor,
    feat_type: FeatType,
    cosine: bool,
    fitted: bool,
}

impl Ncm {
    /// Config: `feat_type` (cl2n | l2n | un, default cl2n), `dist` (l2 | cos, default l2).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Ncm> {
        let c: NcmConfig = config.parse_or_default()?;
        let feat_type = match c.feat_type.as_str() {
            "un" => FeatType::Un,
            "l2n" => FeatType::L2n,
            "cl2n" => FeatType::Cl2n,
            s => {
                return Err(Error::Config(format!(
                    "unknown feat_type {s:?} (un, l2n, cl2n)"
                )))
            }
        };
        let cosine = match c.dist.as_str() {
            "l2" => false,
            "cos" => true,
            s => return Err(Error::Config(format!("unknown dist {s:?} (l2, cos)"))),
        };
        let (k, d) = check::head_dims(data, "ncm")?;
        let opts = (Kind::Float, data.device);
        Ok(Ncm {
            centroids: Tensor::f_zeros([k, d], opts)?,
            feat_mean: Tensor::f_zeros([d], opts)?,
            feat_type,
            cosine,
            fitted: false,
        })
    }

    fn transform(&self, f: &Tensor) -> Result<Tensor> {
        match self.feat_type {
            FeatType::Un => Ok(f.shallow_clone()),
            FeatType::L2n => rows_normalized(f),
            FeatType::Cl2n => rows_normalized(&f.f_sub(&self.feat_mean)?),
        }
    }
}

impl Head for Ncm {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        if !self.fitted {
            return Err(Error::State(
                "ncm head used before fit (it needs the training features)".into(),
            ));
        }
        let x = self.transform(&float_features(features, self.centroids.size()[1])?)?;
        if self.cosine {
            return Ok(rows_normalized(&x)?.f_matmul(&rows_normalized(&self.centroids)?.f_tr()?)?);
        }
        let xx =
            x.f_pow_tensor_scalar(2.0)?
                .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Float)?;
        let cc = self.centroids.f_pow_tensor_scalar(2.0)?.f_sum_dim_intlist(
            [1i64].as_slice(),
            true,
            Kind::Float,
        )?;
        let xc = x.f_matmul(&self.centroids.f_tr()?)?;
        // -(|x|^2 + |c|^2 - 2 x.c)
        Ok(xc.f_mul_scalar(2.0)?.f_sub(&xx)?.f_sub(&cc.f_tr()?)?)
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("centroids", &self.centroids, false),
            ("feat_mean", &self.feat_mean, false),
        ])
    }

    fn needs_fit(&self) -> bool {
        true
    }

    fn fit(&mut self, features: &Tensor, labels: &Tensor) -> Result<()> {
        let (k, d) = self.centroids.size2()?;
        let f = float_features(features, d)?.f_to_device(self.centroids.device())?;
        let n = f.size()[0];
        if labels.size() != [n] || n == 0 {
            return Err(Error::Input(format!(
                "fit needs features [N,{d}] and labels [N] with N > 0, got {:?} and {:?}",
                features.size(),
                labels.size()
            )));
        }
        let labels = labels.f_to_kind(Kind::Int64)?.f_to_device(f.device())?;
        let (lo, hi) = (
            labels.f_min()?.int64_value(&[]),
            labels.f_max()?.int64_value(&[]),
        );
        if lo < 0 || hi >= k {
            return Err(Error::Input(format!(
                "labels must lie in [0, {k}), got [{lo}, {hi}]"
            )));
        }
        tch::no_grad(|| -> Result<()> {
            let mean = f.f_mean_dim([0i64].as_slice(), false, Kind::Float)?;
            self.feat_mean.f_copy_(&mean)?;
            let t = self.transform(&f)?;
            let onehot = labels.f_one_hot(k)?.f_to_kind(Kind::Float)?;
            let counts = onehot.f_sum_dim_intlist([0i64].as_slice(), false, Kind::Float)?;
            let empty: Vec<i64> = Vec::<f32>::try_from(&counts)
                .map_err(Error::Tch)?
                .iter()
                .enumerate()
                .filter(|(_, &c)| c == 0.0)
                .map(|(i, _)| i as i64)
                .collect();
            if !empty.is_empty() {
                return Err(Error::Data(format!(
                    "classes {empty:?} have no training features; NCM needs at least one"
                )));
            }
            let sums = onehot.f_tr()?.f_matmul(&t)?;
            self.centroids
                .f_copy_(&sums.f_div(&counts.f_unsqueeze(1)?)?)?;
            Ok(())
        })?;
        self.fitted = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    #[test]
    fn ncm_predicts_the_nearest_mean() {
        // Two classes in 2-D, features around (1, 0) and (0, 1).
        let f = t(
            &[1.0, 0.1, 0.9, -0.1, 1.1, 0.0, 0.0, 1.0, 0.1, 0.9, -0.1, 1.1],
            [6, 2],
        );
        let y = Tensor::from_slice(&[0i64, 0, 0, 1, 1, 1]);
        for (ft, dist) in [
            ("un", "l2"),
            ("l2n", "l2"),
            ("cl2n", "l2"),
            ("cl2n", "cos"),
            ("un", "cos"),
        ] {
            let mut h = Ncm::new(
                &cfg(&format!(r#"{{"feat_type":"{ft}","dist":"{dist}"}}"#)),
                &info(2, 2),
            )
            .unwrap();
            assert!(h.needs_fit());
            assert!(h.forward(&f, false).is_err(), "use before fit must fail");
            h.fit(&f, &y).unwrap();
            let q = t(&[2.0, 0.3, 0.2, 3.0, 0.8, 0.1], [3, 2]);
            let pred = h.forward(&q, false).unwrap().argmax(1, false);
            assert_eq!(
                Vec::<i64>::try_from(&pred).unwrap(),
                [0, 1, 0],
                "{ft}/{dist}"
            );
        }
        // "un"/"l2": centroids are the class means, logits minus squared distances, by hand.
        let mut h = Ncm::new(&cfg(r#"{"feat_type":"un"}"#), &info(2, 2)).unwrap();
        h.fit(&f, &y).unwrap();
        let c = &h.named_tensors()[0].tensor;
        assert!(close(c, &t(&[1.0, 0.0, 0.0, 1.0], [2, 2])));
        let l = h.forward(&t(&[2.0, 0.0], [1, 2]), false).unwrap();
        assert!(
            (l.double_value(&[0, 0]) + 1.0).abs() < 1e-5
                && (l.double_value(&[0, 1]) + 5.0).abs() < 1e-5
        );
        // An empty class is a clear error.
        let mut h = Ncm::new(&Config::default(), &info(3, 2)).unwrap();
        assert!(h.fit(&f, &y).unwrap_err().to_string().contains("[2]"));
        assert!(Ncm::new(&cfg(r#"{"dist":"manhattan"}"#), &info(2, 2)).is_err());
    }
}
