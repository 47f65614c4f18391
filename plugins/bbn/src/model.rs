//! The `bbn` model: two branches (conventional, re-balancing) and one linear classifier over the
//! concatenation of their pooled features, mixed by the cumulative-learning weight alpha.
//!
//! With `f_c` the conventional branch's features (branch 0, the uniform sampler's batch), `f_r`
//! the re-balancing branch's (branch 1, the reversed sampler's batch) and the classifier
//! `W = [W_c | W_r]` [K, 2D], `b` [K] (the official code's single `nn.Linear(2D, K)`):
//!
//! * training: `z = W [2 alpha f_c ; 2 (1 - alpha) f_r] + b = 2 alpha W_c f_c + 2 (1 - alpha) W_r f_r + b`;
//! * evaluation (both branches see the same image, alpha = 1/2): `z = W_c f_c + W_r f_r + b`.
//!
//! Each branch's expert logits are the classifier's output when alpha puts all weight on it:
//! `e_c = 2 W_c f_c + b`, `e_r = 2 W_r f_r + b`. Then the training output is
//! `alpha e_c + (1 - alpha) e_r` and the evaluation output is `(e_c + e_r) / 2`.

use crate::alpha::AlphaSchedule;
use lt_plugin::tch::Tensor;
use lt_plugin::{
    check, init, Config, DatasetInfo, Error, Model, ModelOutput, NamedTensor, Result, StepCtx,
};

/// The bilateral-branch classifier with cumulative learning.
pub struct BbnModel {
    /// [K, 2D]: columns 0..D weigh the conventional branch, D..2D the re-balancing one.
    weight: Tensor,
    /// [K].
    bias: Tensor,
    schedule: AlphaSchedule,
    /// Width D of one branch's pooled features.
    d: i64,
}

impl BbnModel {
    /// The `bbn` model: `fc` initialised as PyTorch's `nn.Linear(2D, K)` (uniform in
    /// +-1/sqrt(2D), tch's generator seeded by the trainer); config: `t_max` (see [`crate::alpha`]).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<BbnModel> {
        let schedule = AlphaSchedule::from_config(config)?;
        let (k, d) = check::head_dims(data, "the bbn model")?;
        let (weight, bias) = init::linear_layer(k, 2 * d, data.device, true)?;
        Ok(BbnModel {
            weight,
            bias,
            schedule,
            d,
        })
    }

    /// The two branch features, checked: exactly two, each [B, D] with the same B.
    fn branch_features<'a>(&self, features: &'a [Tensor]) -> Result<(&'a Tensor, &'a Tensor)> {
        let [fc, fr] = features else {
            return Err(Error::Input(format!(
                "the bbn model has 2 branches, got features of {}",
                features.len()
            )));
        };
        check::features(fc, self.d)?;
        check::features(fr, self.d)?;
        if fc.size()[0] != fr.size()[0] {
            return Err(Error::Input(format!(
                "bbn: the two branches' batches differ in size: {:?} and {:?}",
                fc.size(),
                fr.size()
            )));
        }
        Ok((fc, fr))
    }

    /// `scale * W_part f + b` with `W_part` the columns of branch `branch` (0 or 1).
    fn expert(&self, f: &Tensor, branch: i64, scale: f64, w: &Tensor) -> Result<Tensor> {
        let w_part = w.f_narrow(1, branch * self.d, self.d)?;
        let b = self.bias.f_to_kind(f.kind())?;
        Ok(f.f_mul_scalar(scale)?.f_linear(&w_part, Some(&b))?)
    }

    /// Replaces the classifier (tests: hand-picked or double-precision parameters).
    #[cfg(test)]
    pub(crate) fn set_parameters(&mut self, weight: Tensor, bias: Tensor) {
        self.weight = weight;
        self.bias = bias;
    }
}

impl Model for BbnModel {
    fn branches(&self) -> usize {
        2
    }

    fn forward(&mut self, features: &[Tensor], train: bool, ctx: &StepCtx) -> Result<ModelOutput> {
        let (fc, fr) = self.branch_features(features)?;
        let (sc, sr) = if train {
            let a = self.schedule.at(ctx)?;
            (2.0 * a, 2.0 * (1.0 - a))
        } else {
            (1.0, 1.0)
        };
        let w = self.weight.f_to_kind(fc.kind())?;
        let mixed = Tensor::f_cat(&[fc.f_mul_scalar(sc)?, fr.f_mul_scalar(sr)?], 1)?;
        let logits = mixed.f_linear(&w, Some(&self.bias.f_to_kind(fc.kind())?))?;
        let experts = vec![self.expert(fc, 0, 2.0, &w)?, self.expert(fr, 1, 2.0, &w)?];
        Ok(ModelOutput::new(logits, experts))
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[
            ("fc.weight", &self.weight, true),
            ("fc.bias", &self.bias, true),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_close, cfg, ctx, rng_lock, t2, values};
    use lt_plugin::tch::{self, Kind};

    /// A K = 2, D = 2 model with W = [[1, 2, 3, 4], [-1, 0, 2, -2]], b = [0.1, -0.2] (double).
    fn tiny() -> BbnModel {
        let d = DatasetInfo::for_test(vec![5, 1]).with_feature_dim(2);
        let mut m = BbnModel::new(&cfg("{}"), &d).unwrap();
        let w = t2(&[1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 2.0, -2.0], 2);
        m.set_parameters(w, Tensor::from_slice(&[0.1, -0.2]));
        m
    }

    #[test]
    fn forward_by_hand_in_training_and_evaluation() {
        let _rng = rng_lock();
        let mut m = tiny();
        // Row 0: f_c = [1, 2], f_r = [0.5, -1]; row 1: zeros, so its logits are b.
        let f = [t2(&[1.0, 2.0, 0.0, 0.0], 2), t2(&[0.5, -1.0, 0.0, 0.0], 2)];
        // Training, epoch 5 of 10: alpha = 1 - (5/10)^2 = 0.75, so the classifier input is
        // 2 [0.75 * 1, 0.75 * 2, 0.25 * 0.5, 0.25 * -1] = [1.5, 3, 0.25, -0.5];
        // class 0: 1.5 + 6 + 0.75 - 2 + 0.1 = 6.35; class 1: -1.5 + 0 + 0.5 + 1 - 0.2 = -0.2.
        // PyTorch: F.linear(2 * torch.cat([a * fc, (1 - a) * fr], 1), W, b).
        let out = m.forward(&f, true, &ctx(5, 10)).unwrap();
        assert_close(&values(&out.logits), &[6.35, -0.2, 0.1, -0.2], 1e-12);
        // Experts: e_c = 2 W_c f_c + b = (2 * 5 + 0.1, 2 * -1 - 0.2) = (10.1, -2.2);
        // e_r = 2 W_r f_r + b = (2 * (1.5 - 4) + 0.1, 2 * (1 + 2) - 0.2) = (-4.9, 5.8).
        // PyTorch: F.linear(2 * fc, W[:, :2], b), F.linear(2 * fr, W[:, 2:], b).
        assert_close(&values(&out.experts[0]), &[10.1, -2.2, 0.1, -0.2], 1e-12);
        assert_close(&values(&out.experts[1]), &[-4.9, 5.8, 0.1, -0.2], 1e-12);
        // Training output = alpha e_c + (1 - alpha) e_r: 0.75 * 10.1 + 0.25 * -4.9 = 6.35.
        let mix = &out.experts[0] * 0.75 + &out.experts[1] * 0.25;
        assert_close(&values(&mix), &values(&out.logits), 1e-12);
        // Evaluation: input [1, 2, 0.5, -1]; class 0: 1 + 4 + 1.5 - 4 + 0.1 = 2.6;
        // class 1: -1 + 0 + 1 + 2 - 0.2 = 1.8; the mean of the experts, whatever the epoch.
        // PyTorch: F.linear(torch.cat([fc, fr], 1), W, b).
        for c in [ctx(0, 10), ctx(9, 10)] {
            let ev = m.forward(&f, false, &c).unwrap();
            assert_close(&values(&ev.logits), &[2.6, 1.8, 0.1, -0.2], 1e-12);
        }
    }

    #[test]
    fn two_branches_and_an_nn_linear_initialisation() {
        let _rng = rng_lock();
        let d = DatasetInfo::for_test(vec![40; 10]).with_feature_dim(64);
        let m = BbnModel::new(&cfg("{}"), &d).unwrap();
        assert_eq!(m.branches(), 2);
        let t = m.named_tensors();
        let names: Vec<&str> = t.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["fc.weight", "fc.bias"]);
        assert!(t.iter().all(|n| n.trainable && n.tensor.requires_grad()));
        assert_eq!(
            (t[0].tensor.size(), t[1].tensor.size()),
            (vec![10, 128], vec![10])
        );
        // nn.Linear(128, 10): U(-1/sqrt(128), 1/sqrt(128)) for weight and bias; its std is
        // bound / sqrt(3) = 0.0510.
        let bound = 1.0 / 128f64.sqrt();
        let max = t[0].tensor.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.9 * bound, "{max} vs {bound}");
        let std = t[0].tensor.std(true).double_value(&[]);
        assert!((std - bound / 3f64.sqrt()).abs() < 0.1 * bound, "std {std}");
        assert!(t[1].tensor.abs().max().double_value(&[]) <= bound);
        // Same seed, same draw.
        tch::manual_seed(7);
        let a = BbnModel::new(&cfg("{}"), &d).unwrap();
        tch::manual_seed(7);
        let b = BbnModel::new(&cfg("{}"), &d).unwrap();
        assert!(a.weight.equal(&b.weight) && a.bias.equal(&b.bias));
    }

    #[test]
    fn bad_shapes_and_configs_are_one_line_errors() {
        let _rng = rng_lock();
        let mut m = tiny();
        let ok = t2(&[1.0, 2.0], 1);
        let cases: Vec<(Vec<Tensor>, &str)> = vec![
            (
                vec![ok.copy()],
                "the bbn model has 2 branches, got features of 1",
            ),
            (vec![ok.copy(), ok.copy(), ok.copy()], "got features of 3"),
            (
                vec![ok.copy(), t2(&[1.0, 2.0, 3.0], 1)],
                "expected features [B,2], got [1, 3]",
            ),
            (
                vec![Tensor::from_slice(&[1.0, 2.0]), ok.copy()],
                "expected features [B,2]",
            ),
            (
                vec![ok.copy(), t2(&[1.0, 2.0, 3.0, 4.0], 2)],
                "batches differ in size",
            ),
        ];
        for (f, msg) in cases {
            for train in [true, false] {
                let e = m.forward(&f, train, &ctx(0, 10)).unwrap_err().to_string();
                assert!(e.contains(msg) && !e.contains('\n'), "{e}");
            }
        }
        let e = m.forward(&[ok.copy(), ok.copy()], true, &ctx(0, 0));
        assert!(e.unwrap_err().to_string().contains("0 epochs"));
        let d = DatasetInfo::for_test(vec![5, 1]).with_feature_dim(2);
        let e = BbnModel::new(&cfg(r#"{"t_max": 0}"#), &d).err().unwrap();
        assert_eq!(
            e.to_string(),
            "t_max must be a whole number of epochs >= 1, got 0"
        );
        let no_width = DatasetInfo::for_test(vec![5, 1]);
        let e = BbnModel::new(&cfg("{}"), &no_width)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("feature width"), "{e}");
        // Float features with the float parameters the constructor made.
        let mut f32m = BbnModel::new(&cfg("{}"), &d).unwrap();
        let x = ok.to_kind(Kind::Float);
        let out = f32m.forward(&[x.copy(), x], true, &ctx(1, 10)).unwrap();
        assert_eq!(out.logits.size(), [1, 2]);
        assert_eq!(out.experts.len(), 2);
    }
}
