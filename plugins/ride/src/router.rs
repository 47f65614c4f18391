//! RIDE's expert assignment module ("router", official `ResNet32EAModel`): after the experts
//! are trained, a small network decides per image whether the next expert is worth running.
//!
//! For expert i < E-1 it sees that expert's pooled features x_i and the mean logits of experts
//! 0..=i, z̄_i = (z_0 + ... + z_i) / (i+1):
//!
//! ```text
//! h_i = relu(W_i · x_i/|x_i| + b_i)        (W_i [16,D], one per expert)
//! r_i = w · [topk(z̄_i, k), h_i] + c        (w [1,k+16], shared by the experts)
//! ```
//!
//! Training target (the official `expert_help_target`): the experts so far are wrong and a
//! later one would be right, t_i = [argmax Σ_{j<=i} z_j != y] ∧ ∃ j > i: [argmax Σ_{l<=j} z_l = y];
//! loss = mean_i BCE-with-logits(r_i, t_i, pos_weight). Its inputs are detached: the router
//! learns on frozen experts and never moves them.
//!
//! Evaluation: every image uses expert 0; it goes on to expert i while the router of expert
//! i-1 says so (r_{i-1} > 0, i.e. sigmoid > 0.5) and it went on so far; the prediction is the mean
//! logits of the experts it used.

use lt_plugin::cosine::rows_normalized;
use lt_plugin::tch::{Device, Kind, Tensor};
use lt_plugin::{Error, NamedTensor, Result};

/// Width of each expert's hidden layer (official `expert_hidden_fc_output_dim`).
pub const HIDDEN: i64 = 16;

/// The router's tensors and constants.
pub struct Router {
    /// (W_i [16,D], b_i [16]) for experts 0..E-2.
    hidden: Vec<(Tensor, Tensor)>,
    /// w [1, k+16], c [1].
    fc: (Tensor, Tensor),
    top: i64,
    pos_weight: f64,
}

/// Official `_weights_init`: Kaiming-normal weights (fan_in, gain sqrt 2); the bias keeps
/// PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
fn layer(out: i64, fan_in: i64, device: Device) -> Result<(Tensor, Tensor)> {
    let w = Tensor::f_randn([out, fan_in], (Kind::Float, device))? * (2.0 / fan_in as f64).sqrt();
    let b = lt_plugin::init::linear(&[out], fan_in, device)?;
    Ok((w, b))
}

impl Router {
    /// A router for `experts` experts with features of width `d` over `k` classes, looking at
    /// the `top` largest mean logits; `pos_weight` weighs the positive targets of the BCE.
    pub fn new(
        experts: usize,
        (k, d): (i64, i64),
        top: i64,
        pos_weight: f64,
        device: Device,
    ) -> Result<Router> {
        if experts < 2 {
            return Err(Error::Config(format!(
                "router: needs at least 2 experts to route between, got {experts}"
            )));
        }
        if top < 1 || top > k {
            return Err(Error::Config(format!(
                "top_choices must be in 1..={k} (the number of classes), got {top}"
            )));
        }
        let hidden = (0..experts - 1)
            .map(|_| layer(HIDDEN, d, device))
            .collect::<Result<_>>()?;
        let fc = layer(1, top + HIDDEN, device)?;
        let r = Router {
            hidden,
            fc,
            top,
            pos_weight,
        };
        r.set_trainable(false);
        Ok(r)
    }

    /// Turns the router's gradients on (its stage) or off.
    pub fn set_trainable(&self, on: bool) {
        for t in self.tensors() {
            let _ = t.set_requires_grad(on);
        }
    }

    fn tensors(&self) -> impl Iterator<Item = &Tensor> {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.fc))
            .flat_map(|(w, b)| [w, b])
    }

    /// `router.hidden{i}.weight`/`.bias` and `router.fc.weight`/`.bias`.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut v = Vec::new();
        let mut push = |name: String, t: &Tensor| {
            v.push(NamedTensor {
                name,
                tensor: t.shallow_clone(),
                trainable: t.requires_grad(),
            })
        };
        for (i, (w, b)) in self.hidden.iter().enumerate() {
            push(format!("router.hidden{i}.weight"), w);
            push(format!("router.hidden{i}.bias"), b);
        }
        push("router.fc.weight".into(), &self.fc.0);
        push("router.fc.bias".into(), &self.fc.1);
        v
    }

    /// r_i [B]: the logit of "a later expert helps" after expert `i` with features `x` [B,D]
    /// and the mean logits so far `mean` [B,K].
    pub fn score(&self, i: usize, x: &Tensor, mean: &Tensor) -> Result<Tensor> {
        let (w, b) = &self.hidden[i];
        let x = rows_normalized(&x.f_to_kind(Kind::Float)?)?;
        let h = x.f_linear(w, Some(b))?.f_relu()?;
        let (top, _) = mean
            .f_to_kind(Kind::Float)?
            .f_topk(self.top, 1, true, true)?;
        let both = Tensor::f_cat(&[top, h], 1)?;
        Ok(both
            .f_linear(&self.fc.0, Some(&self.fc.1))?
            .f_squeeze_dim(1)?)
    }

    /// The router's training loss on the experts' logits `z` and features `x` (each [B,·],
    /// detached here) for labels `y` [B].
    pub fn loss(&self, z: &[Tensor], x: &[Tensor], y: &Tensor) -> Result<Tensor> {
        let e = z.len();
        let mut sum = z[0].f_detach()?.f_to_kind(Kind::Float)?;
        let mut correct = vec![sum.f_argmax(1, false)?.f_eq_tensor(y)?];
        let mut scores = Vec::with_capacity(e - 1);
        for i in 0..e - 1 {
            scores.push(self.score(i, &x[i].f_detach()?, &(&sum / (i + 1) as f64))?);
            sum = sum.f_add(&z[i + 1].f_detach()?.f_to_kind(Kind::Float)?)?;
            correct.push(sum.f_argmax(1, false)?.f_eq_tensor(y)?);
        }
        let mut total = Tensor::f_zeros([], (Kind::Float, y.device()))?;
        for (i, r) in scores.iter().enumerate() {
            let later = Tensor::f_stack(&correct[i + 1..], 1)?.f_any_dim(1, false)?;
            let t = correct[i].f_logical_not()?.f_logical_and(&later)?;
            total = total.f_add(&bce_with_logits(
                r,
                &t.f_to_kind(Kind::Float)?,
                self.pos_weight,
            )?)?;
        }
        Ok(total.f_div_scalar((e - 1) as f64)?)
    }

    /// The routed prediction (mean logits of the experts each image used) and how many experts
    /// each image used [B] (int64).
    pub fn route(&self, z: &[Tensor], x: &[Tensor]) -> Result<(Tensor, Tensor)> {
        let mut sum = z[0].f_to_kind(Kind::Float)?;
        let b = sum.size()[0];
        let mut going = Tensor::f_ones([b], (Kind::Bool, sum.device()))?;
        let mut used = Tensor::f_ones([b], (Kind::Int64, sum.device()))?;
        for i in 1..z.len() {
            let r = self.score(i - 1, &x[i - 1], &(&sum / i as f64))?;
            going = going.f_logical_and(&r.f_gt(0.0)?)?;
            let g = going.f_to_kind(Kind::Float)?.f_unsqueeze(1)?;
            sum = sum.f_add(&z[i].f_to_kind(Kind::Float)?.f_mul(&g)?)?;
            used = used.f_add(&going.f_to_kind(Kind::Int64)?)?;
        }
        let mean = sum.f_div(&used.f_unsqueeze(1)?.f_to_kind(Kind::Float)?)?;
        Ok((mean, used))
    }
}

/// `mean_b -[p t log σ(r) + (1-t) log(1-σ(r))]`, PyTorch's
/// `F.binary_cross_entropy_with_logits(r, t, pos_weight=p)`.
pub fn bce_with_logits(r: &Tensor, t: &Tensor, p: f64) -> Result<Tensor> {
    // -log σ(r) = softplus(-r); -log(1-σ(r)) = softplus(r).
    let pos = r.f_neg()?.f_softplus()?.f_mul(t)?.f_mul_scalar(p)?;
    let neg = r.f_softplus()?.f_mul(&t.f_neg()?.f_add_scalar(1.0)?)?;
    Ok(pos.f_add(&neg)?.f_mean(Kind::Float)?)
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
