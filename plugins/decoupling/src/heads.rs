//! The classifier heads of Decoupling (Kang et al., ICLR 2020) and their reference code
//! (facebookresearch/classifier-balancing).

use lt_plugin::tch::{self, Kind, Tensor};
use lt_plugin::{check, copy_linear, init, Config, DatasetInfo, Error, Head, NamedTensor, Result};
use serde::Deserialize;

/// Features [B, D] checked against the head's width, as floats.
fn float_features(features: &Tensor, d: i64) -> Result<Tensor> {
    check::features(features, d)?;
    Ok(features.f_to_kind(Kind::Float)?)
}

/// Rows divided by their L2 norm (a zero row stays zero).
fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x
        .f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?
        .f_clamp_min(1e-12)?;
    Ok(x.f_div(&n)?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NoConfig {}

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
        Ok(Crt {
            weight: init::linear(&[k, d], d, data.device)?.set_requires_grad(true),
            bias: init::linear(&[k], d, data.device)?.set_requires_grad(true),
        })
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
        Ok(Lws {
            weight: init::linear(&[k, d], d, data.device)?.set_requires_grad(false),
            bias: init::linear(&[k], d, data.device)?.set_requires_grad(false),
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
            FeatType::L2n => l2_normalize(f),
            FeatType::Cl2n => l2_normalize(&f.f_sub(&self.feat_mean)?),
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
            return Ok(l2_normalize(&x)?.f_matmul(&l2_normalize(&self.centroids)?.f_tr()?)?);
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

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CosineConfig {
    scale: f64,
    squash: bool,
    learn_scale: bool,
}

impl Default for CosineConfig {
    fn default() -> Self {
        CosineConfig {
            scale: 16.0,
            squash: true,
            learn_scale: false,
        }
    }
}

/// Cosine classifier (the reference `CosNorm_Classifier`, from OLTR): logits_i =
/// s * <g(x), w_i / ||w_i||> with g(x) = ||x|| / (1 + ||x||) * x / ||x|| ("squash", default) or
/// x / ||x||. Weights trainable, initialised U(-1/sqrt(D), 1/sqrt(D)); s = `scale` (16), fixed
/// unless `learn_scale = true`.
pub struct Cosine {
    weight: Tensor,
    scale: Tensor,
    squash: bool,
    learn_scale: bool,
}

impl Cosine {
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<Cosine> {
        let c: CosineConfig = config.parse_or_default()?;
        if !(c.scale.is_finite() && c.scale > 0.0) {
            return Err(Error::Config(format!("scale must be > 0, got {}", c.scale)));
        }
        let (k, d) = check::head_dims(data, "cosine")?;
        Ok(Cosine {
            weight: init::linear(&[k, d], d, data.device)?.set_requires_grad(true),
            scale: Tensor::f_full([1], c.scale, (Kind::Float, data.device))?
                .set_requires_grad(c.learn_scale),
            squash: c.squash,
            learn_scale: c.learn_scale,
        })
    }
}

impl Head for Cosine {
    fn forward(&mut self, features: &Tensor, _train: bool) -> Result<Tensor> {
        let f = float_features(features, self.weight.size()[1])?;
        let mut x = l2_normalize(&f)?;
        if self.squash {
            let n = f.f_norm_scalaropt_dim(2.0, [1i64].as_slice(), true)?;
            x = x.f_mul(&n.f_div(&n.f_add_scalar(1.0)?)?)?;
        }
        let w = l2_normalize(&self.weight)?;
        Ok(x.f_matmul(&w.f_tr()?)?.f_mul(&self.scale)?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("weight", &self.weight, true),
            ("scale", &self.scale, self.learn_scale),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(k: usize, d: usize) -> DatasetInfo {
        DatasetInfo::for_test(vec![10; k]).with_feature_dim(d)
    }
    fn cfg(j: &str) -> Config {
        Config::from_json(j).unwrap()
    }
    fn t(v: &[f32], shape: [i64; 2]) -> Tensor {
        Tensor::from_slice(v).reshape(shape)
    }
    fn stage1() -> (Tensor, Tensor) {
        (
            t(&[3.0, 4.0, 0.0, 1.0, -2.0, 2.0], [3, 2]),
            Tensor::from_slice(&[0.5f32, -0.5, 1.0]),
        )
    }
    fn close(a: &Tensor, b: &Tensor) -> bool {
        a.allclose(b, 1e-5, 1e-6, false)
    }

    #[test]
    fn tau_zero_is_the_plain_head_without_bias_and_tau_one_unit_norm() {
        let (w, b) = stage1();
        let x = t(&[1.0, 2.0, -1.0, 0.5], [2, 2]);
        let mut h = TauNorm::new(&cfg(r#"{"tau": 0.0}"#), &info(3, 2)).unwrap();
        assert!(h.wants_linear_init() && h.named_tensors().iter().all(|n| !n.trainable));
        h.init_from_linear(&w, Some(&b)).unwrap();
        assert!(close(&h.forward(&x, false).unwrap(), &x.matmul(&w.tr())));
        let mut hb = TauNorm::new(&cfg(r#"{"tau": 0.0, "bias": true}"#), &info(3, 2)).unwrap();
        hb.init_from_linear(&w, Some(&b)).unwrap();
        assert!(close(
            &hb.forward(&x, false).unwrap(),
            &(x.matmul(&w.tr()) + &b)
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

    #[test]
    fn cosine_head_by_hand() {
        let mut h = Cosine::new(&cfg(r#"{"scale": 10, "squash": false}"#), &info(2, 2)).unwrap();
        let w = &h.named_tensors()[0].tensor;
        tch::no_grad(|| w.shallow_clone().copy_(&t(&[2.0, 0.0, 0.0, -3.0], [2, 2])));
        // x = (3, 4): cosines 3/5 and -4/5.
        let l = h.forward(&t(&[3.0, 4.0], [1, 2]), false).unwrap();
        assert!(
            (l.double_value(&[0, 0]) - 6.0).abs() < 1e-5
                && (l.double_value(&[0, 1]) + 8.0).abs() < 1e-5
        );
        let mut s = Cosine::new(&cfg(r#"{"scale": 10}"#), &info(2, 2)).unwrap();
        tch::no_grad(|| {
            s.named_tensors()[0]
                .tensor
                .shallow_clone()
                .copy_(&t(&[2.0, 0.0, 0.0, -3.0], [2, 2]))
        });
        // Squashed: |x| = 5 scales by 5/6.
        let l = s.forward(&t(&[3.0, 4.0], [1, 2]), false).unwrap();
        assert!((l.double_value(&[0, 0]) - 5.0).abs() < 1e-5);
        assert!(!s.named_tensors()[1].trainable);
    }
}
