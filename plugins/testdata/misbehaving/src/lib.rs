//! Test fixture for the plugin host (lt-core/tests/plugin_*.rs): components that fail on purpose,
//! and small but real heads, a logit-adjusting loss and a sampler that exercise every table entry.

use lt_plugin::tch::{Kind, Reduction, Tensor};
use lt_plugin::{Config, DatasetInfo, Error, Head, Loss, NamedTensor, Result, Sampler, StepCtx};

/// Panics in `forward`, as a buggy plugin would.
struct Panics;
impl Loss for Panics {
    fn forward(&mut self, _: &Tensor, _: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        panic!("deliberate panic at step {}", ctx.step)
    }
}

/// Returns an error from `forward`.
struct Fails;
impl Loss for Fails {
    fn forward(&mut self, _: &Tensor, _: &Tensor, _: &StepCtx) -> Result<Tensor> {
        Err(Error::Other("deliberate error".into()))
    }
}

/// Cross-entropy whose eval-time logits are adjusted post hoc by -tau * log(prior), and which
/// counts `on_epoch` calls (forward adds nothing to the loss but records the last ctx).
struct PosthocLa {
    log_prior: Tensor,
    tau: f64,
    last_epoch: Option<u32>,
}
impl PosthocLa {
    fn new(cfg: &Config, data: &DatasetInfo) -> Result<Self> {
        let counts = data.class_counts_tensor();
        Ok(PosthocLa {
            log_prior: (&counts / counts.sum(Kind::Float)).log(),
            tau: cfg.f64_or("tau", 1.0)?,
            last_epoch: None,
        })
    }
}
impl Loss for PosthocLa {
    fn forward(&mut self, logits: &Tensor, targets: &Tensor, ctx: &StepCtx) -> Result<Tensor> {
        if self.last_epoch != Some(ctx.epoch) {
            return Err(Error::State(format!(
                "on_epoch({}) was not called before forward",
                ctx.epoch
            )));
        }
        Ok(logits.f_cross_entropy_loss::<Tensor>(targets, None, Reduction::Mean, -100, 0.0)?)
    }
    fn adjust_logits(&mut self, logits: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(logits.f_sub(&(&self.log_prior * self.tau))?))
    }
    fn on_epoch(&mut self, ctx: &StepCtx) -> Result<()> {
        self.last_epoch = Some(ctx.epoch);
        Ok(())
    }
}

/// A linear head that starts from the stage-1 classifier.
struct Linear {
    weight: Tensor,
    bias: Tensor,
}
impl Linear {
    fn new(_: &Config, data: &DatasetInfo) -> Result<Self> {
        let (k, d) = (data.num_classes as i64, data.feature_dim as i64);
        if d == 0 {
            return Err(Error::Data("feature_dim must be set".into()));
        }
        let opts = (Kind::Float, data.device);
        Ok(Linear {
            weight: Tensor::zeros([k, d], opts).set_requires_grad(true),
            bias: Tensor::zeros([k], opts).set_requires_grad(true),
        })
    }
}
impl Head for Linear {
    fn forward(&mut self, f: &Tensor, _train: bool) -> Result<Tensor> {
        Ok(f.f_linear(&self.weight, Some(&self.bias))?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[("weight", &self.weight, true), ("bias", &self.bias, true)])
    }
    fn wants_linear_init(&self) -> bool {
        true
    }
    fn init_from_linear(&mut self, w: &Tensor, b: Option<&Tensor>) -> Result<()> {
        let _g = lt_plugin::tch::no_grad_guard();
        self.weight.f_copy_(w)?;
        if let Some(b) = b {
            self.bias.f_copy_(b)?;
        }
        Ok(())
    }
}

/// Nearest class mean: logits are minus squared distances to the means set by `fit`.
struct Ncm {
    means: Tensor,
}
impl Ncm {
    fn new(_: &Config, data: &DatasetInfo) -> Result<Self> {
        let (k, d) = (data.num_classes as i64, data.feature_dim as i64);
        Ok(Ncm {
            means: Tensor::zeros([k, d], (Kind::Float, data.device)),
        })
    }
}
impl Head for Ncm {
    fn forward(&mut self, f: &Tensor, _train: bool) -> Result<Tensor> {
        Ok(Tensor::f_cdist(f, &self.means, 2.0, None::<i64>)?
            .f_square()?
            .f_neg()?)
    }
    fn named_tensors(&self) -> Vec<NamedTensor> {
        NamedTensor::list(&[("means", &self.means, false)])
    }
    fn needs_fit(&self) -> bool {
        true
    }
    fn fit(&mut self, f: &Tensor, labels: &Tensor) -> Result<()> {
        let k = self.means.size()[0];
        let onehot = labels.f_one_hot(k)?.f_to_kind(Kind::Float)?; // [N,K]
        let sums = onehot.f_tr()?.f_matmul(f)?; // [K,D]
        let n = onehot
            .f_sum_dim_intlist(0, false, Kind::Float)?
            .f_clamp_min(1.0)?
            .f_unsqueeze(1)?;
        self.means.f_copy_(&sums.f_div(&n)?)?;
        Ok(())
    }
}

/// Visits images grouped by class, rotating the class order by the epoch.
struct ByClass {
    labels: Vec<u32>,
    num_classes: u32,
}
impl ByClass {
    fn new(_: &Config, data: &DatasetInfo, labels: &[u32]) -> Result<Self> {
        Ok(ByClass {
            labels: labels.to_vec(),
            num_classes: data.num_classes as u32,
        })
    }
}
impl Sampler for ByClass {
    fn epoch_indices(&mut self, epoch: u32) -> Result<Vec<u32>> {
        let mut idx: Vec<u32> = (0..self.labels.len() as u32).collect();
        let k = self.num_classes;
        idx.sort_by_key(|&i| ((self.labels[i as usize] + k - epoch % k) % k, i));
        Ok(idx)
    }
}

fn panics(_: &Config, _: &DatasetInfo) -> Result<Panics> {
    Ok(Panics)
}
fn fails(_: &Config, _: &DatasetInfo) -> Result<Fails> {
    Ok(Fails)
}
fn panics_on_create(_: &Config, _: &DatasetInfo) -> Result<Panics> {
    panic!("deliberate panic in constructor")
}

lt_plugin::export_plugin! {
    plugin "misbehaving" version "0.0.1", "test fixture";
    loss "panics" = panics, "panics in forward";
    loss "fails" = fails, "returns Err from forward";
    loss "panics-on-create" = panics_on_create, "panics in its constructor";
    loss "posthoc-la" = PosthocLa::new, "CE with post-hoc logit adjustment; config: tau";
    head "linear" = Linear::new, "linear head initialised from stage 1";
    head "ncm" = Ncm::new, "nearest class mean";
    sampler "by-class" = ByClass::new, "grouped by class, rotated per epoch";
}
