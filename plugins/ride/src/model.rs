//! The `ride` model: one cosine classifier per expert on that expert's branch features, and the
//! mean of the experts' logits as both the training output and the evaluation prediction (the
//! official `ResNet_s.forward` averages the stacked expert outputs in both modes). With
//! `router = true` it also carries the expert assignment module (`router.rs`): in stage 2
//! (the official second run, `ResNet32EAModel`), the experts are frozen, the router trains on its own loss, and the
//! evaluation averages only the experts the router sends each image to.

use crate::router::Router;
use lt_plugin::cosine::{cosine_logits, init_cosine_weight};
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::StepCtx;
use lt_plugin::{check, Config, DatasetInfo, Error, Model, ModelOutput, NamedTensor, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ModelConfig {
    /// Number of experts (branches); the official CIFAR config uses 3.
    experts: i64,
    /// Cosine logit scale (`s` of the official `ResNet_s`, 30).
    s: f64,
    /// The expert assignment module (router).
    router: bool,
    /// How many of the largest mean logits the router sees (official `top_choices_num`).
    top_choices: i64,
    /// Weight of the positive targets in the router's BCE (official `pos_weight`).
    pos_weight: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            experts: 3,
            s: 30.0,
            router: false,
            top_choices: 5,
            pos_weight: 20.0,
        }
    }
}

/// The stage that trains the router (the experts trained in stage 1).
pub const ROUTER_STAGE: u32 = 2;

/// RIDE's experts: weights [K,D] per expert, logits `s cos(x_e, w_c)`, aggregation by mean
/// (or by the router).
pub struct RideModel {
    weights: Vec<Tensor>,
    s: f64,
    d: i64,
    router: Option<Router>,
    /// [1] float, 1 once the router's stage has begun: evaluation routes. A checkpoint tensor,
    /// so a restored model routes as the trained one did.
    routing: Tensor,
    /// Whether the stage running now trains the router.
    router_training: bool,
}

impl RideModel {
    /// The `ride` model component; config `experts` (3), `s` (30), `router` (false).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<RideModel> {
        let c: ModelConfig = config.parse()?;
        if c.experts < 1 {
            return Err(Error::Config(format!(
                "experts must be >= 1, got {}",
                c.experts
            )));
        }
        check::positive("s", c.s)?;
        check::positive("pos_weight", c.pos_weight)?;
        let (k, d) = check::head_dims(data, "the ride model")?;
        let weights = (0..c.experts)
            .map(|_| init_cosine_weight(k, d, data.device))
            .collect::<Result<Vec<_>>>()?;
        let router = c
            .router
            .then(|| {
                let e = weights.len();
                Router::new(e, (k, d), c.top_choices, c.pos_weight, data.device)
            })
            .transpose()?;
        Ok(RideModel {
            weights,
            s: c.s,
            d,
            router,
            routing: Tensor::f_zeros([1], (Kind::Float, data.device))?,
            router_training: false,
        })
    }

    /// Each expert's logits [B,K] for its branch features, after the shape checks.
    fn expert_logits(&self, features: &[Tensor]) -> Result<Vec<Tensor>> {
        if features.len() != self.weights.len() {
            return Err(Error::Input(format!(
                "the ride model has {} experts, got features of {} branches",
                self.weights.len(),
                features.len()
            )));
        }
        let b = features[0].size().first().copied().unwrap_or(-1);
        for f in features {
            check::features(f, self.d)?;
            if f.size()[0] != b {
                return Err(Error::Input(format!(
                    "branch features of different batch sizes: {:?} and {:?}",
                    features[0].size(),
                    f.size()
                )));
            }
        }
        features
            .iter()
            .zip(&self.weights)
            .map(|(f, w)| cosine_logits(f, w, self.s))
            .collect()
    }
}

/// The mean of the experts' logits, [B,K].
pub fn mean_logits(experts: &[Tensor]) -> Result<Tensor> {
    let kind = experts.first().map_or(Kind::Float, Tensor::kind);
    Ok(Tensor::f_stack(experts, 0)?.f_mean_dim(0, false, kind)?)
}

impl Model for RideModel {
    fn branches(&self) -> usize {
        self.weights.len()
    }

    fn forward(&mut self, features: &[Tensor], train: bool, _ctx: &StepCtx) -> Result<ModelOutput> {
        let experts = self.expert_logits(features)?;
        match &self.router {
            // Reads one flag per evaluation batch; training never routes.
            Some(r) if !train && self.routing.f_double_value(&[0])? > 0.0 => {
                let (logits, used) = r.route(&experts, features)?;
                let mut out = ModelOutput::new(logits, experts);
                out.used = Some(used);
                Ok(out)
            }
            _ => Ok(ModelOutput::new(mean_logits(&experts)?, experts)),
        }
    }

    fn trains_on_labels(&self) -> bool {
        self.router.is_some()
    }

    fn forward_train(
        &mut self,
        features: &[Tensor],
        targets: &Tensor,
        ctx: &StepCtx,
    ) -> Result<ModelOutput> {
        let mut out = self.forward(features, true, ctx)?;
        if let (Some(r), true) = (&self.router, self.router_training) {
            out.loss = Some(r.loss(&out.experts, features, targets)?);
        }
        Ok(out)
    }

    /// Stage 2 (the router's): experts frozen, router trained, evaluation routed.
    fn begin_stage(&mut self, stage: u32) -> Result<()> {
        let Some(r) = &self.router else {
            return Ok(());
        };
        self.router_training = stage == ROUTER_STAGE;
        r.set_trainable(self.router_training);
        for w in &self.weights {
            let _ = w.set_requires_grad(!self.router_training);
        }
        if self.router_training {
            let _ = lt_plugin::tch::no_grad(|| self.routing.f_fill_(1.0))?;
        }
        Ok(())
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut v: Vec<NamedTensor> = self
            .weights
            .iter()
            .enumerate()
            .map(|(i, w)| NamedTensor {
                name: format!("expert{i}.weight"),
                tensor: w.shallow_clone(),
                trainable: w.requires_grad(),
            })
            .collect();
        if let Some(r) = &self.router {
            v.extend(r.named_tensors());
            v.push(NamedTensor {
                name: "router.routing".into(),
                tensor: self.routing.shallow_clone(),
                trainable: false,
            });
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lt_plugin::tch::Device;

    fn model(json: &str, k: usize, d: usize) -> Result<RideModel> {
        RideModel::new(
            &Config::from_json(json).unwrap(),
            &DatasetInfo::for_test(vec![4; k]).with_feature_dim(d),
        )
    }

    fn t(v: &[f64], rows: i64) -> Tensor {
        Tensor::from_slice(v)
            .reshape([rows, -1])
            .to_kind(Kind::Float)
    }

    #[test]
    fn experts_are_scaled_cosines_and_the_output_is_their_mean() {
        let mut m = model(r#"{"experts": 2, "s": 10}"#, 2, 2).unwrap();
        lt_plugin::tch::no_grad(|| {
            m.weights[0].copy_(&t(&[1.0, 0.0, 0.0, 1.0], 2));
            m.weights[1].copy_(&t(&[3.0, 4.0, -1.0, 0.0], 2));
        });
        // Expert 0 sees x = [3,4]: cos with e1 = 0.6, with e2 = 0.8 -> [6, 8].
        // Expert 1 sees x = [0,2]: cos with [3,4] = 0.8, with [-1,0] = 0 -> [8, 0].
        // Mean -> [7, 4]. torch: torch.stack([z0, z1]).mean(0)
        let out = m
            .forward(
                &[t(&[3.0, 4.0], 1), t(&[0.0, 2.0], 1)],
                false,
                &StepCtx::default(),
            )
            .unwrap();
        let got = |x: &Tensor| -> Vec<f64> {
            Vec::try_from(x.reshape([-1]).to_kind(Kind::Double)).unwrap()
        };
        for (g, w) in got(&out.experts[0]).iter().zip([6.0, 8.0]) {
            assert!((g - w).abs() < 1e-5);
        }
        for (g, w) in got(&out.experts[1]).iter().zip([8.0, 0.0]) {
            assert!((g - w).abs() < 1e-5);
        }
        for (g, w) in got(&out.logits).iter().zip([7.0, 4.0]) {
            assert!((g - w).abs() < 1e-5, "{:?}", got(&out.logits));
        }
        // Training output is the same aggregation.
        let tr = m
            .forward(
                &[t(&[3.0, 4.0], 1), t(&[0.0, 2.0], 1)],
                true,
                &StepCtx::default(),
            )
            .unwrap();
        assert!((tr.logits - out.logits).abs().max().double_value(&[]) < 1e-7);
    }

    #[test]
    fn tensors_are_named_trainable_and_receive_gradients() {
        let mut m = model("{}", 5, 8).unwrap();
        assert_eq!(m.branches(), 3);
        let named = m.named_tensors();
        let names: Vec<&str> = named.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["expert0.weight", "expert1.weight", "expert2.weight"]
        );
        let f: Vec<Tensor> = (0..3)
            .map(|_| Tensor::randn([4, 8], (Kind::Float, Device::Cpu)))
            .collect();
        let out = m.forward(&f, true, &StepCtx::default()).unwrap();
        out.experts[1].sum(Kind::Float).backward();
        assert!(
            named[1]
                .tensor
                .grad()
                .abs()
                .sum(Kind::Float)
                .double_value(&[])
                > 0.0
        );
        assert!(!named[0].tensor.grad().defined());
    }

    #[test]
    fn bad_configs_and_shapes_are_one_line_errors() {
        for (json, msg) in [
            (r#"{"experts": 0}"#, "experts must be >= 1, got 0"),
            (r#"{"experts": -2}"#, "experts must be >= 1, got -2"),
            (r#"{"s": 0}"#, "s must be > 0, got 0"),
            (
                r#"{"router": true, "experts": 1}"#,
                "needs at least 2 experts",
            ),
            (
                r#"{"router": true, "top_choices": 4}"#,
                "top_choices must be in 1..=3",
            ),
            (r#"{"pos_weight": 0}"#, "pos_weight must be > 0"),
            (r#"{"expert": 3}"#, "unknown field `expert`"),
        ] {
            let e = model(json, 3, 4).err().expect(json).to_string();
            assert!(e.contains(msg) && !e.contains('\n'), "{json}: {e}");
        }
        assert!(model("{}", 3, 0).is_err());
        let mut m = model(r#"{"experts": 2}"#, 3, 4).unwrap();
        let ok = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
        let ctx = StepCtx::default();
        let e = m.forward(&[ok.shallow_clone()], true, &ctx).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the ride model has 2 experts, got features of 1 branches"
        );
        let wide = Tensor::zeros([2, 5], (Kind::Float, Device::Cpu));
        let e = m
            .forward(&[ok.shallow_clone(), wide], true, &ctx)
            .unwrap_err();
        assert_eq!(e.to_string(), "expected features [B,4], got [2, 5]");
        let short = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
        assert!(m.forward(&[ok, short], true, &ctx).is_err());
    }
}
