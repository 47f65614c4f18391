//! The `sade` model: three experts on a shared trunk, their classifiers, and the test-time
//! self-supervised aggregation of their predictions.
//!
//! The host builds three copies of the backbone's last stage (one per expert); expert i maps its
//! branch's pooled features through its own classifier ([`ExpertClassifier`], cosine times 30 by
//! default). In training the output is the mean of the three experts' logits (what the official
//! network returns as `output`; the `sade` loss trains each expert on its own logits). In
//! evaluation it is `sum_i softmax(w)_i z_i` ([`aggregate`]), with `w` at 1/3 each (equal weights,
//! the training mean) unless test-time adaptation moved it: before each test split the host calls
//! [`Model::adapt_begin`] (w back to 1/3, momentum to 0), then [`Model::adapt`] on every batch of
//! two random views for `test_time_epochs` passes, each call one SGD step on `w` minimising the
//! prediction-stability loss ([`stability_loss`]).

use crate::aggregate::{aggregate, expert_weights, stability_loss};
use crate::classifier::ExpertClassifier;
use crate::config::ModelConfig;
use crate::loss::EXPERTS;
use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{
    check, Config, DatasetInfo, Error, Model, ModelOutput, NamedTensor, Result, StepCtx,
};

/// The start of every aggregation weight (the official `fill_(1/3)`; any equal value is the same
/// aggregation, only the weight decay sees the level).
const W0: f64 = 1.0 / 3.0;

/// SADE's experts and aggregation weights.
pub struct SadeModel {
    experts: Vec<ExpertClassifier>,
    /// `w` [3] (float), not trained by the host's optimiser.
    weight: Tensor,
    /// The momentum buffer of `w` [3].
    momentum: Tensor,
    config: ModelConfig,
    /// Set once an expert's weight fell below `stop_below`; cleared by `adapt_begin`.
    stopped: bool,
    num_classes: usize,
}

impl SadeModel {
    /// The `sade` model component (see [`ModelConfig`] for the keys).
    pub fn new(config: &Config, data: &DatasetInfo) -> Result<SadeModel> {
        let config = ModelConfig::parse(config)?;
        let experts = (0..EXPERTS)
            .map(|_| match config.use_norm {
                true => ExpertClassifier::cosine(data, config.scale),
                false => ExpertClassifier::linear(data),
            })
            .collect::<Result<Vec<_>>>()?;
        let opts = (Kind::Float, data.device);
        Ok(SadeModel {
            experts,
            weight: Tensor::f_full([EXPERTS as i64], W0, opts)?,
            momentum: Tensor::f_zeros([EXPERTS as i64], opts)?,
            config,
            stopped: false,
            num_classes: data.num_classes,
        })
    }

    /// The current expert weights softmax(w), as plain numbers.
    pub fn expert_weights(&self) -> Result<Vec<f64>> {
        let a = expert_weights(&self.weight.f_to_kind(Kind::Double)?)?;
        Ok(Vec::<f64>::try_from(&a)?)
    }

    /// Each view's expert logits, checked ([B,K], one per expert, equal shapes) and cast to
    /// the weights' kind and device.
    fn view(&self, logits: &[Tensor], which: &str) -> Result<Vec<Tensor>> {
        if logits.len() != EXPERTS {
            return Err(Error::Input(format!(
                "adapt: {which} has {} experts' logits, the sade model has {EXPERTS}",
                logits.len()
            )));
        }
        logits
            .iter()
            .map(|z| {
                check::logits(z, self.num_classes)?;
                if z.size() != logits[0].size() {
                    return Err(Error::Input(format!(
                        "adapt: {which}'s expert logits differ in shape: {:?} and {:?}",
                        logits[0].size(),
                        z.size()
                    )));
                }
                Ok(z.f_detach()?
                    .f_to(self.weight.device())?
                    .f_to_kind(Kind::Float)?)
            })
            .collect()
    }
}

impl Model for SadeModel {
    fn branches(&self) -> usize {
        EXPERTS
    }

    fn forward(&mut self, features: &[Tensor], train: bool, _ctx: &StepCtx) -> Result<ModelOutput> {
        if features.len() != EXPERTS {
            return Err(Error::Input(format!(
                "the sade model has {EXPERTS} branches, got features of {}",
                features.len()
            )));
        }
        let batch = features[0].size().first().copied();
        if features.iter().any(|f| f.size().first().copied() != batch) {
            let sizes: Vec<Vec<i64>> = features.iter().map(|f| f.size()).collect();
            return Err(Error::Input(format!(
                "branch features differ in batch size: {sizes:?}"
            )));
        }
        let experts = self
            .experts
            .iter()
            .zip(features)
            .map(|(c, f)| c.forward(f))
            .collect::<Result<Vec<_>>>()?;
        let logits = if train {
            let kind = experts[0].kind();
            Tensor::f_stack(&experts, 0)?.f_mean_dim([0i64].as_slice(), false, kind)?
        } else {
            aggregate(&self.weight, &experts)?
        };
        Ok(ModelOutput::new(logits, experts))
    }

    fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut out: Vec<NamedTensor> = (0..EXPERTS)
            .flat_map(|i| self.experts[i].named_tensors(&format!("expert{}", i + 1)))
            .collect();
        out.extend(NamedTensor::list(&[
            ("aggregation_weight", &self.weight, false),
            ("aggregation_momentum", &self.momentum, false),
        ]));
        out
    }

    fn adapt_epochs(&self) -> usize {
        self.config.test_time_epochs
    }

    fn adapt_begin(&mut self) -> Result<()> {
        lt_plugin::tch::no_grad(|| -> Result<()> {
            let _ = self.weight.shallow_clone().f_fill_(W0)?;
            let _ = self.momentum.shallow_clone().f_zero_()?;
            Ok(())
        })?;
        self.stopped = false;
        Ok(())
    }

    fn adapt(&mut self, view1: &[Tensor], view2: &[Tensor]) -> Result<()> {
        let (v1, v2) = (self.view(view1, "view 1")?, self.view(view2, "view 2")?);
        if self.stopped {
            return Ok(());
        }
        let w = self.weight.f_detach_copy()?.set_requires_grad(true);
        let loss = stability_loss(&w, &v1, &v2)?;
        let grad = Tensor::f_run_backward(&[loss], &[&w], false, false)?;
        self.config
            .sgd
            .step(&self.weight, &self.momentum, &grad[0])?;
        let smallest = self
            .expert_weights()?
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        self.stopped = smallest < self.config.stop_below;
        Ok(())
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
