//! The `kcl` feature loss: projection head, normalisation, positive draw, k-positive loss.

use crate::config::KclConfig;
use crate::contrast::k_positive_loss;
use crate::positives::{positive_mask, SplitMix64};
use crate::projection::Projection;
use lt_plugin::cosine::rows_normalized;
use lt_plugin::tch::{Device, Kind, Tensor};
use lt_plugin::{
    check, Config, DatasetInfo, Error, FeatureLoss, LossInput, NamedTensor, Needs, Result, StepCtx,
};

/// K-positive contrastive learning on the two views' pooled features.
pub struct KclLoss {
    proj: Projection,
    k: usize,
    temperature: f64,
    /// Seed of the positive draw (mixed with the step: the same run draws the same positives).
    seed: u64,
    feature_dim: i64,
    num_classes: usize,
}

impl KclLoss {
    /// The `kcl` component: needs the feature width (`DatasetInfo::feature_dim`).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<KclLoss> {
        let c = KclConfig::from_config(config)?;
        let (_, d) = check::head_dims(data, "the kcl projection head")?;
        let proj = Projection::new(d, c.proj_dim as i64, c.mlp, data.device)?;
        Ok(KclLoss {
            proj,
            k: c.k,
            temperature: c.temperature,
            seed: data.seed,
            feature_dim: d,
            num_classes: data.num_classes,
        })
    }

    /// The loss without a projection (embeddings = normalised features), for unit tests.
    #[cfg(test)]
    pub(crate) fn with_identity(k: usize, temperature: f64, data: &DatasetInfo) -> KclLoss {
        KclLoss {
            proj: Projection::Identity,
            k,
            temperature,
            seed: data.seed,
            feature_dim: data.feature_dim as i64,
            num_classes: data.num_classes,
        }
    }

    /// The 2B views' labels (the batch's labels twice) as host integers.
    fn view_labels(targets: &Tensor) -> Result<Vec<i64>> {
        let t: Vec<i64> = Vec::try_from(targets.f_to_device(Device::Cpu)?.f_to_kind(Kind::Int64)?)?;
        Ok(t.iter().chain(t.iter()).copied().collect())
    }

    /// Both views [B,D] with B the targets' length, or an error naming the wrong one.
    fn checked_views<'a>(&self, input: &LossInput<'a>) -> Result<(&'a Tensor, &'a Tensor)> {
        let (f1, f2) = (input.features()?, input.features2()?);
        check::features(f1, self.feature_dim)?;
        check::features(f2, self.feature_dim)?;
        let b = input.targets.size()[0];
        if f1.size()[0] != b || f2.size()[0] != b {
            return Err(Error::Input(format!(
                "kcl: features {:?} and features2 {:?} must both have the batch's {b} rows",
                f1.size(),
                f2.size()
            )));
        }
        Ok((f1, f2))
    }
}

impl FeatureLoss for KclLoss {
    fn needs(&self) -> Needs {
        Needs {
            features: true,
            two_views: true,
            ..Needs::default()
        }
    }

    fn forward(&mut self, input: &LossInput, ctx: &StepCtx) -> Result<Tensor> {
        check::logits_targets(input.logits, input.targets, self.num_classes)?;
        let (f1, f2) = self.checked_views(input)?;
        let labels = Self::view_labels(input.targets)?;
        let mut rng = SplitMix64::for_step(self.seed, ctx.step);
        let mask = positive_mask(&labels, self.k, &mut rng);
        let feats = Tensor::f_cat(&[f1, f2], 0)?;
        let v = rows_normalized(&self.proj.forward(&feats)?)?;
        let n = labels.len() as i64;
        let pos = Tensor::from_slice(&mask)
            .f_reshape([n, n])?
            .f_to_kind(v.kind())?
            .f_to_device(v.device())?;
        k_positive_loss(&v, &pos, self.temperature)
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        self.proj.named_tensors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(step: u64) -> StepCtx {
        StepCtx {
            epoch: 0,
            total_epochs: 1,
            stage: 1,
            step,
        }
    }

    fn t2(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, -1])
    }

    /// The loss of one batch: features of both views as flat row-major f64, D = 2.
    fn run(l: &mut KclLoss, f1: &Tensor, f2: &Tensor, y: &[i64], step: u64) -> Result<Tensor> {
        let k = l.num_classes as i64;
        let logits = Tensor::zeros([y.len() as i64, k], (Kind::Double, Device::Cpu));
        let targets = Tensor::from_slice(y);
        let mut input = LossInput::new(&logits, &targets);
        input.features = Some(f1);
        input.features2 = Some(f2);
        l.forward(&input, &ctx(step))
    }

    #[test]
    fn four_views_by_hand() {
        // B = 2 images, labels [0, 1], D = 2, identity projection, tau = 0.5.
        // Views [a0, a1, b0, b1] = [(2,0), (0,0.5), (3,4), (-0.8,0.6)], normalised
        // [(1,0), (0,1), (0.6,0.8), (-0.8,0.6)]; each anchor's only positive is its other view.
        // s / tau for anchor a0: a1 0, b0 1.2, b1 -1.6 -> -(1.2 - log(e^0 + e^1.2 + e^-1.6))
        //   = -(1.2 - 1.508957) = 0.308957; a1: a0 0, b0 1.6, b1 1.2 (positive) ->
        //   -(1.2 - 2.227123) = 1.027123; b0: 1.027123 (positive a0 at 1.2, others 1.6, 0);
        //   b1: 0.308957. Mean = 0.668040201714.
        // PyTorch: v = F.normalize(torch.cat([f1, f2])); s = v @ v.T / 0.5;
        //   s.fill_diagonal_(-inf); F.cross_entropy(s, torch.tensor([2, 3, 0, 1]))
        let d = DatasetInfo::for_test(vec![3, 1]).with_feature_dim(2);
        let mut l = KclLoss::with_identity(6, 0.5, &d);
        let f1 = t2(&[2.0, 0.0, 0.0, 0.5], 2);
        let f2 = t2(&[3.0, 4.0, -0.8, 0.6], 2);
        let got = run(&mut l, &f1, &f2, &[0, 1], 0).unwrap().double_value(&[]);
        assert!((got - 0.668_040_201_714).abs() < 1e-10, "{got}");
    }

    #[test]
    fn same_class_positives_by_hand() {
        // B = 3, labels [0, 0, 1], unit views at angles [0, 30, 180] (view 1) and [10, 60, 200]
        // degrees (view 2), tau = 0.5, k = 6 >= every class's candidates, so class-0 anchors
        // have 3 positives (other view + 2 same-class views), class-1 anchors 1.
        // Anchor 0: s = [-, 1.732051, -2, 1.969616, 1, -1.879385], logsumexp 2.761683,
        //   loss = 2.761683 - (1.732051 + 1.969616 + 1) / 3 = 1.194461.
        // Per anchor [1.194461, 1.118630, 0.117914, 1.157121, 1.192202, 0.094316],
        // mean 0.812440653800. PyTorch: SupConLoss(temperature=0.5, base_temperature=0.5)
        // on the same views and labels.
        let d = DatasetInfo::for_test(vec![3, 1]).with_feature_dim(2);
        let mut l = KclLoss::with_identity(6, 0.5, &d);
        let unit = |deg: &[f64]| {
            let v: Vec<f64> = deg
                .iter()
                .flat_map(|a| [a.to_radians().cos(), a.to_radians().sin()])
                .collect();
            t2(&v, deg.len() as i64)
        };
        let (f1, f2) = (unit(&[0.0, 30.0, 180.0]), unit(&[10.0, 60.0, 200.0]));
        let got = run(&mut l, &f1, &f2, &[0, 0, 1], 0)
            .unwrap()
            .double_value(&[]);
        assert!((got - 0.812_440_653_800).abs() < 1e-9, "{got}");
    }

    fn batch() -> (Vec<f64>, Vec<f64>, Vec<i64>) {
        let f1: Vec<f64> = (0..24)
            .map(|i| ((i * 29 % 17) as f64 - 8.0) / 5.0)
            .collect();
        let f2: Vec<f64> = (0..24)
            .map(|i| ((i * 13 % 19) as f64 - 9.0) / 6.0)
            .collect();
        (f1, f2, vec![0, 0, 0, 0, 0, 1, 1, 2])
    }

    fn check_gradients(l: &mut KclLoss, d: i64) {
        let (f1, f2, y) = batch();
        let rows = 8;
        let (a, b) = (
            t2(&f1[..(rows * d) as usize], rows).set_requires_grad(true),
            t2(&f2[..(rows * d) as usize], rows).set_requires_grad(true),
        );
        run(l, &a, &b, &y, 4).unwrap().backward();
        for (which, x, g) in [(0, &a, a.grad()), (1, &b, b.grad())] {
            let base: Vec<f64> = Vec::try_from(x.detach().reshape([-1])).unwrap();
            let g: Vec<f64> = Vec::try_from(g.reshape([-1])).unwrap();
            for i in 0..base.len() {
                let mut f = |h: f64| {
                    let mut v = base.clone();
                    v[i] += h;
                    let p = t2(&v, rows);
                    let (v1, v2) = if which == 0 { (&p, &b) } else { (&a, &p) };
                    run(l, &v1.detach(), &v2.detach(), &y, 4)
                        .unwrap()
                        .double_value(&[])
                };
                let fd = (f(1e-6) - f(-1e-6)) / 2e-6;
                assert!(
                    (fd - g[i]).abs() < 1e-6,
                    "view {which} [{i}]: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let d = DatasetInfo::for_test(vec![5, 2, 1]).with_feature_dim(3);
        check_gradients(&mut KclLoss::with_identity(2, 0.3, &d), 3);
        let mut mlp = KclLoss::new(
            &Config::from_json(r#"{"proj_dim": 4, "k": 2, "temperature": 0.2}"#).unwrap(),
            &d,
        )
        .unwrap();
        check_gradients(&mut mlp, 3);
        // The projection head is trainable and receives gradients.
        let t = mlp.named_tensors();
        assert_eq!(t.len(), 4);
        assert!(t.iter().all(|n| n.trainable && n.tensor.grad().defined()));
    }

    #[test]
    fn deterministic_in_seed_and_step() {
        let (f1, f2, y) = batch();
        let (a, b) = (t2(&f1, 8), t2(&f2, 8));
        let d = DatasetInfo::for_test(vec![5, 2, 1]).with_feature_dim(3);
        let loss = |seed: u64, step: u64| {
            let mut l = KclLoss::with_identity(1, 0.1, &d.clone().with_seed(seed));
            run(&mut l, &a, &b, &y, step).unwrap().double_value(&[])
        };
        assert_eq!(loss(1, 9), loss(1, 9));
        // Class 0 has 5 images: each anchor draws 1 of 8 candidates, so the draws differ.
        let others: Vec<f64> = (0..6).map(|s| loss(1, 10 + s)).collect();
        assert!(
            others.iter().any(|&v| (v - loss(1, 9)).abs() > 1e-6),
            "{others:?}"
        );
        assert!((loss(2, 9) - loss(1, 9)).abs() > 1e-9 || (loss(3, 9) - loss(1, 9)).abs() > 1e-9);
    }

    #[test]
    fn needs_and_bad_inputs() {
        let d = DatasetInfo::for_test(vec![3, 1]).with_feature_dim(2);
        let mut l = KclLoss::with_identity(6, 0.5, &d);
        let n = l.needs();
        assert!(n.features && n.two_views && !n.experts && !n.head_weight && !n.second_batch);
        let good = t2(&[1.0, 0.0, 0.0, 1.0], 2);
        let wide = t2(&[1.0, 0.0, 0.0, 1.0, 0.5, 0.5], 2);
        let short = t2(&[1.0, 0.0], 1);
        let e = run(&mut l, &good, &wide, &[0, 1], 0)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "expected features [B,2], got [2, 3]");
        let e = run(&mut l, &good, &short, &[0, 1], 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must both have the batch's 2 rows"), "{e}");
        let logits = Tensor::zeros([2, 2], (Kind::Double, Device::Cpu));
        let targets = Tensor::from_slice(&[0i64, 1]);
        let mut input = LossInput::new(&logits, &targets);
        input.features = Some(&good);
        let e = l.forward(&input, &ctx(0)).unwrap_err().to_string();
        assert_eq!(e, "no second-view features passed");
        // The constructor needs the feature width.
        let e = KclLoss::new(
            &Config::from_json("{}").unwrap(),
            &DatasetInfo::for_test(vec![3, 1]),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("feature width"), "{e}");
    }
}
