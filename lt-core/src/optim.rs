//! SGD with momentum, Nesterov and weight decay, written over plain tensors so that parameters
//! from anywhere (our VarStore, or a plugin's head) can be optimised together.
//!
//! The update is the one of `torch.optim.SGD`, per parameter `p` with gradient `g`:
//! ```text
//! d = g + wd * p
//! buf = d                                   (first step)
//! buf = momentum * buf + (1 - dampening) * d (later steps)
//! d = d + momentum * buf  (nesterov)  |  d = buf
//! p = p - lr * d
//! ```
//! Each line runs for a whole parameter group at once through multi-tensor (`_foreach_*`)
//! kernels (`ops::sgd_step`): a handful of launches per group instead of several per tensor,
//! which is what decides the step time on a GPU. Products are rounded before the sums, as the
//! per-tensor form computes them (tested bit for bit); PyTorch's own `foreach` path fuses
//! `a + alpha * b`, so results agree with PyTorch to about one float ulp per step.
//! [`Sgd::step_unless_inf`] runs ATen's fused kernel instead, which skips the update on the
//! device when the gradient scaler found an inf or NaN (mixed precision, no host read).
//!
//! Parameters without a gradient (frozen, `requires_grad` off, or unused in this step: `zero_grad`
//! drops gradients as PyTorch's does) are skipped, and get no momentum buffer, as in PyTorch.
use crate::ops;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use tch::Tensor;

/// Hyper-parameters shared by all groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    /// Momentum 0.9, no dampening, no Nesterov (the CIFAR-LT / MiSLAS setting).
    fn default() -> Self {
        SgdConfig {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

/// A set of parameters sharing a learning-rate factor and a weight decay.
#[derive(Debug)]
pub struct ParamGroup {
    /// Free-form label (e.g. `backbone`, `head`), used in error messages.
    pub name: String,
    /// Parameters with unique names; the names key the momentum buffers in checkpoints.
    pub params: Vec<(String, Tensor)>,
    /// This group's learning rate is `lr * lr_factor`.
    pub lr_factor: f64,
    pub weight_decay: f64,
}

impl ParamGroup {
    pub fn new(
        name: &str,
        params: Vec<(String, Tensor)>,
        lr_factor: f64,
        weight_decay: f64,
    ) -> Self {
        ParamGroup {
            name: name.to_string(),
            params,
            lr_factor,
            weight_decay,
        }
    }
}

/// The parameters of a group that have a gradient, with their names and gradients: those
/// with a momentum buffer first, then the fresh ones; and how many have a buffer.
type WithGrads<'a> = (Vec<&'a str>, Vec<Tensor>, Vec<Tensor>, usize);

fn with_grads<'a>(g: &'a ParamGroup, buffers: &HashMap<String, Tensor>) -> Result<WithGrads<'a>> {
    let mut old = Vec::new();
    let mut fresh = Vec::new();
    for (name, p) in &g.params {
        let grad = p.f_grad()?;
        if !grad.defined() {
            continue;
        }
        let entry = (name.as_str(), p.shallow_clone(), grad);
        if buffers.contains_key(name) {
            old.push(entry);
        } else {
            fresh.push(entry);
        }
    }
    let n_old = old.len();
    let mut names = Vec::with_capacity(n_old + fresh.len());
    let (mut params, mut grads) = (Vec::new(), Vec::new());
    for (n, p, gr) in old.into_iter().chain(fresh) {
        names.push(n);
        params.push(p);
        grads.push(gr);
    }
    Ok((names, params, grads, n_old))
}

/// Prefix of momentum buffers in [`Sgd::state_tensors`].
pub const MOMENTUM_PREFIX: &str = "momentum_buffer.";

/// Stochastic gradient descent over parameter groups.
#[derive(Debug)]
pub struct Sgd {
    groups: Vec<ParamGroup>,
    config: SgdConfig,
    lr: f64,
    /// Momentum buffers keyed by parameter name.
    buffers: HashMap<String, Tensor>,
}

impl Sgd {
    /// Fails on duplicate parameter names, non-finite or negative hyper-parameters, or
    /// Nesterov without momentum / with dampening (as PyTorch).
    pub fn new(groups: Vec<ParamGroup>, lr: f64, config: SgdConfig) -> Result<Self> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Optim(format!("invalid learning rate {lr}")));
        }
        if !(config.momentum.is_finite() && config.momentum >= 0.0) {
            return Err(Error::Optim(format!(
                "invalid momentum {}",
                config.momentum
            )));
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            return Err(Error::Optim(
                "Nesterov momentum requires a momentum > 0 and zero dampening".into(),
            ));
        }
        let mut seen = HashSet::new();
        for g in &groups {
            if !(g.weight_decay.is_finite() && g.weight_decay >= 0.0) {
                return Err(Error::Optim(format!(
                    "parameter group '{}': invalid weight decay {}",
                    g.name, g.weight_decay
                )));
            }
            if !(g.lr_factor.is_finite() && g.lr_factor >= 0.0) {
                return Err(Error::Optim(format!(
                    "parameter group '{}': invalid lr factor {}",
                    g.name, g.lr_factor
                )));
            }
            for (n, _) in &g.params {
                if !seen.insert(n.clone()) {
                    return Err(Error::Optim(format!(
                        "parameter '{n}' appears twice in the optimiser (group '{}')",
                        g.name
                    )));
                }
            }
        }
        Ok(Sgd {
            groups,
            config,
            lr,
            buffers: HashMap::new(),
        })
    }

    /// Base learning rate (set by the schedule every iteration or epoch).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    pub fn config(&self) -> SgdConfig {
        self.config
    }

    /// Drops every gradient (PyTorch's `zero_grad(set_to_none=True)`; call before `backward`).
    pub fn zero_grad(&mut self) -> Result<()> {
        let params: Vec<&Tensor> = self
            .groups
            .iter()
            .flat_map(|g| g.params.iter().map(|(_, p)| p))
            .collect();
        Ok(ops::grad_set_none(&params)?)
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self) -> Result<()> {
        self.update(None)
    }

    /// One update through the fused kernel, skipped on the device (parameters and momentum
    /// untouched) when `found_inf` is non-zero: the gradient scaler's step.
    pub fn step_unless_inf(&mut self, found_inf: &Tensor) -> Result<()> {
        self.update(Some(found_inf))
    }

    fn update(&mut self, found_inf: Option<&Tensor>) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let c = self.config;
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let step = ops::SgdStep {
                lr: self.lr * g.lr_factor,
                weight_decay: g.weight_decay,
                momentum: c.momentum,
                dampening: c.dampening,
                nesterov: c.nesterov,
            };
            let (names, params, grads, n_old) = with_grads(g, &self.buffers)?;
            if params.is_empty() {
                continue;
            }
            if c.momentum != 0.0 {
                for (name, p) in names[n_old..].iter().zip(&params[n_old..]) {
                    // Fresh buffers are filled by the step (buf = d).
                    self.buffers.insert(name.to_string(), p.f_zeros_like()?);
                }
            }
            let bufs: Vec<&Tensor> = if c.momentum != 0.0 {
                names.iter().map(|n| &self.buffers[*n]).collect()
            } else {
                Vec::new()
            };
            let t = ops::SgdTensors {
                params: params.iter().collect(),
                grads: grads.iter().collect(),
                bufs,
                n_old,
            };
            let kernels = match found_inf {
                None => ops::SgdKernels::Foreach,
                Some(inf) => ops::SgdKernels::Fused {
                    found_inf: Some(inf),
                },
            };
            ops::sgd_step(&t, &step, kernels)?;
        }
        Ok(())
    }

    /// Optimiser state as named tensors for a checkpoint: `momentum_buffer.<param name>`
    /// (only parameters that have taken a step).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .buffers
            .iter()
            .map(|(n, t)| (format!("{MOMENTUM_PREFIX}{n}"), t.shallow_clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Restores the state written by [`Sgd::state_tensors`], copying each buffer to its
    /// parameter's device and kind. Unknown names or shape mismatches are errors; names
    /// without the momentum prefix are ignored (other state in the same checkpoint section).
    pub fn load_state_tensors(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        let by_name: HashMap<&str, &Tensor> = self
            .groups
            .iter()
            .flat_map(|g| g.params.iter().map(|(n, t)| (n.as_str(), t)))
            .collect();
        let mut buffers = HashMap::new();
        for (key, t) in named {
            let Some(pname) = key.strip_prefix(MOMENTUM_PREFIX) else {
                continue;
            };
            let Some(p) = by_name.get(pname) else {
                return Err(Error::Optim(format!(
                    "optimiser state names parameter '{pname}', which this optimiser does not have"
                )));
            };
            if t.size() != p.size() {
                return Err(Error::Optim(format!(
                    "optimiser state for '{pname}' has shape {:?}, the parameter {:?}",
                    t.size(),
                    p.size()
                )));
            }
            let buf = tch::no_grad(|| -> Result<Tensor> {
                Ok(t.f_to_device(p.device())?
                    .f_to_kind(p.kind())?
                    .f_detach()?
                    .copy())
            })?;
            buffers.insert(pname.to_string(), buf);
        }
        self.buffers = buffers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn param(v: &[f64]) -> Tensor {
        Tensor::from_slice(v).set_requires_grad(true)
    }

    /// Sets p.grad to `g` by back-propagating sum(p * g).
    fn set_grad(p: &Tensor, g: &[f64]) {
        let mut p2 = p.shallow_clone();
        p2.zero_grad();
        (p * Tensor::from_slice(g)).sum(Kind::Double).backward();
    }

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.detach()).unwrap()
    }

    /// The per-tensor update this optimiser had before its multi-tensor kernels (PyTorch's
    /// single-tensor SGD with products rounded before sums): the reference for bit equality.
    fn per_tensor_step(
        params: &[(String, Tensor)],
        bufs: &mut HashMap<String, Tensor>,
        lr: f64,
        wd: f64,
        c: SgdConfig,
    ) {
        let _g = tch::no_grad_guard();
        for (name, p) in params {
            let grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let mut d = if wd != 0.0 {
                grad.f_add(&p.f_mul_scalar(wd).unwrap()).unwrap()
            } else {
                grad
            };
            if c.momentum != 0.0 {
                let buf = match bufs.get_mut(name) {
                    Some(buf) => {
                        let _ = buf.f_mul_scalar_(c.momentum).unwrap();
                        if c.dampening != 0.0 {
                            let _ = buf
                                .f_add_(&d.f_mul_scalar(1.0 - c.dampening).unwrap())
                                .unwrap();
                        } else {
                            let _ = buf.f_add_(&d).unwrap();
                        }
                        buf.shallow_clone()
                    }
                    None => {
                        let buf = d.detach().copy();
                        bufs.insert(name.clone(), buf.shallow_clone());
                        buf
                    }
                };
                d = if c.nesterov {
                    d.f_add(&buf.f_mul_scalar(c.momentum).unwrap()).unwrap()
                } else {
                    buf
                };
            }
            let mut p = p.shallow_clone();
            let _ = p.f_sub_(&d.f_mul_scalar(lr).unwrap()).unwrap();
        }
    }

    /// 20 steps of two groups (own lr factor and decay) of float tensors of several shapes, one
    /// of which gets its first gradient at step 3: weights and momentum buffers are bit-equal to
    /// the per-tensor update, for plain, dampened and Nesterov momentum and for none.
    #[test]
    fn multi_tensor_step_is_bit_identical_to_the_per_tensor_update() {
        let d = crate::device::test_device();
        let configs = [
            SgdConfig::default(),
            SgdConfig {
                momentum: 0.9,
                dampening: 0.1,
                nesterov: false,
            },
            SgdConfig {
                momentum: 0.8,
                dampening: 0.0,
                nesterov: true,
            },
            SgdConfig {
                momentum: 0.0,
                dampening: 0.0,
                nesterov: false,
            },
        ];
        for c in configs {
            tch::manual_seed(7);
            let shapes: [&[i64]; 5] = [&[16, 3, 3, 3], &[16], &[10, 64], &[10], &[7, 5]];
            let a: Vec<(String, Tensor)> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        format!("p{i}"),
                        Tensor::randn(*s, (Kind::Float, d)).set_requires_grad(true),
                    )
                })
                .collect();
            let b: Vec<(String, Tensor)> = a
                .iter()
                .map(|(n, t)| (n.clone(), t.detach().copy().set_requires_grad(true)))
                .collect();
            let split = |v: &[(String, Tensor)]| {
                vec![
                    ParamGroup::new(
                        "g0",
                        v[..2]
                            .iter()
                            .map(|(n, t)| (n.clone(), t.shallow_clone()))
                            .collect(),
                        1.0,
                        5e-4,
                    ),
                    ParamGroup::new(
                        "g1",
                        v[2..]
                            .iter()
                            .map(|(n, t)| (n.clone(), t.shallow_clone()))
                            .collect(),
                        0.3,
                        0.0,
                    ),
                ]
            };
            let mut opt = Sgd::new(split(&a), 0.1, c).unwrap();
            let mut ref_bufs = HashMap::new();
            for step in 0..20 {
                let lr = 0.1 * (1.0 - step as f64 / 40.0);
                opt.set_lr(lr);
                opt.zero_grad().unwrap();
                for (_, t) in &b {
                    let mut t = t.shallow_clone();
                    t.zero_grad();
                }
                for (i, ((_, pa), (_, pb))) in a.iter().zip(&b).enumerate() {
                    if i == 4 && step < 3 {
                        continue; // no gradient yet: skipped, no buffer
                    }
                    let g = Tensor::randn(pa.size(), (Kind::Float, d));
                    (pa * &g).sum(Kind::Float).backward();
                    (pb * &g).sum(Kind::Float).backward();
                }
                opt.step().unwrap();
                per_tensor_step(&b[..2], &mut ref_bufs, lr, 5e-4, c);
                per_tensor_step(&b[2..], &mut ref_bufs, lr * 0.3, 0.0, c);
            }
            for ((n, pa), (_, pb)) in a.iter().zip(&b) {
                assert!(pa.equal(pb), "{c:?}: weights of {n} differ");
            }
            let state = opt.state_tensors();
            assert_eq!(state.len(), ref_bufs.len(), "{c:?}");
            for (key, t) in state {
                let name = key.strip_prefix(MOMENTUM_PREFIX).unwrap();
                assert!(
                    t.equal(&ref_bufs[name]),
                    "{c:?}: momentum of {name} differs"
                );
            }
        }
    }

    /// The fused path updates as the multi-tensor one does (within float rounding) and leaves
    /// weights and momentum untouched when `found_inf` is set.
    #[test]
    fn fused_step_matches_and_skips_on_inf() {
        let d = crate::device::test_device();
        let p = Tensor::randn([32, 8], (Kind::Float, d)).set_requires_grad(true);
        let q = p.detach().copy().set_requires_grad(true);
        let group = |t: &Tensor| {
            vec![ParamGroup::new(
                "g",
                vec![("w".into(), t.shallow_clone())],
                1.0,
                1e-3,
            )]
        };
        let mut a = Sgd::new(group(&p), 0.05, SgdConfig::default()).unwrap();
        let mut b = Sgd::new(group(&q), 0.05, SgdConfig::default()).unwrap();
        let no_inf = Tensor::zeros([1], (Kind::Float, d));
        for _ in 0..5 {
            let g = Tensor::randn([32, 8], (Kind::Float, d));
            a.zero_grad().unwrap();
            b.zero_grad().unwrap();
            (&p * &g).sum(Kind::Float).backward();
            (&q * &g).sum(Kind::Float).backward();
            a.step().unwrap();
            b.step_unless_inf(&no_inf).unwrap();
        }
        let diff = f64::try_from((&p - &q).abs().max()).unwrap();
        assert!(diff < 1e-6, "{diff}");
        let before = (q.detach().copy(), b.state_tensors()[0].1.copy());
        b.zero_grad().unwrap();
        (&q * Tensor::randn([32, 8], (Kind::Float, d)))
            .sum(Kind::Float)
            .backward();
        b.step_unless_inf(&Tensor::ones([1], (Kind::Float, d)))
            .unwrap();
        assert!(q.equal(&before.0) && b.state_tensors()[0].1.equal(&before.1));
    }

    #[test]
    fn momentum_weight_decay_matches_hand_computation() {
        // lr 0.1, m 0.9, wd 0.01, p0 = [1, -2], grads [0.5, 0.25] then [-1, 2].
        let p = param(&[1.0, -2.0]);
        let mut opt = Sgd::new(
            vec![ParamGroup::new(
                "all",
                vec![("w".into(), p.shallow_clone())],
                1.0,
                0.01,
            )],
            0.1,
            SgdConfig::default(),
        )
        .unwrap();
        set_grad(&p, &[0.5, 0.25]);
        opt.step().unwrap();
        // d = g + 0.01 p = [0.51, 0.23]; buf = d; p = [1 - 0.051, -2 - 0.023]
        let v = values(&p);
        assert!(
            (v[0] - 0.949).abs() < 1e-12 && (v[1] + 2.023).abs() < 1e-12,
            "{v:?}"
        );
        set_grad(&p, &[-1.0, 2.0]);
        opt.step().unwrap();
        // d = [-1 + 0.00949, 2 - 0.02023]; buf = 0.9*[0.51,0.23] + d
        let b0 = 0.9 * 0.51 + (-1.0 + 0.00949);
        let b1 = 0.9 * 0.23 + (2.0 - 0.02023);
        let v = values(&p);
        assert!(
            (v[0] - (0.949 - 0.1 * b0)).abs() < 1e-12 && (v[1] - (-2.023 - 0.1 * b1)).abs() < 1e-12,
            "{v:?}"
        );
        let st = opt.state_tensors();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].0, "momentum_buffer.w");
        let b = values(&st[0].1);
        assert!((b[0] - b0).abs() < 1e-12 && (b[1] - b1).abs() < 1e-12);
    }

    /// Reference numbers printed by torch 2.11 (float64):
    /// ```python
    /// p = torch.tensor([0.3, -0.7, 1.2], dtype=torch.float64, requires_grad=True)
    /// o = torch.optim.SGD([p], lr=0.05, momentum=0.8, weight_decay=5e-4, nesterov=True)
    /// for g in ([1., 2., -3.], [0.5, -0.5, 0.25], [-2., 0., 1.]):
    ///     o.zero_grad(); p.grad = torch.tensor(g, dtype=torch.float64); o.step()
    /// print(p.tolist())
    /// ```
    #[test]
    fn nesterov_matches_torch_reference() {
        let p = param(&[0.3, -0.7, 1.2]);
        let cfg = SgdConfig {
            momentum: 0.8,
            dampening: 0.0,
            nesterov: true,
        };
        let mut opt = Sgd::new(
            vec![ParamGroup::new(
                "g",
                vec![("p".into(), p.shallow_clone())],
                1.0,
                5e-4,
            )],
            0.05,
            cfg,
        )
        .unwrap();
        for g in [[1.0, 2.0, -3.0], [0.5, -0.5, 0.25], [-2.0, 0.0, 1.0]] {
            opt.zero_grad().unwrap();
            set_grad(&p, &g);
            opt.step().unwrap();
        }
        let v = values(&p);
        let expect = TORCH_NESTEROV;
        for (a, b) in v.iter().zip(expect.iter()) {
            assert!((a - b).abs() < 1e-12, "{v:?} vs {expect:?}");
        }
    }
    const TORCH_NESTEROV: [f64; 3] = [0.2713590670722226, -0.9340542106249361, 1.5220523220646407];

    #[test]
    fn groups_have_own_lr_factor_and_decay_and_skip_frozen() {
        let a = param(&[1.0]);
        let b = param(&[1.0]);
        let frozen = Tensor::from_slice(&[5.0f64]);
        let mut opt = Sgd::new(
            vec![
                ParamGroup::new(
                    "backbone",
                    vec![
                        ("a".into(), a.shallow_clone()),
                        ("f".into(), frozen.shallow_clone()),
                    ],
                    0.5,
                    0.0,
                ),
                ParamGroup::new("head", vec![("b".into(), b.shallow_clone())], 2.0, 0.1),
            ],
            0.1,
            SgdConfig {
                momentum: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        set_grad(&a, &[1.0]);
        set_grad(&b, &[1.0]);
        opt.step().unwrap();
        assert!((values(&a)[0] - (1.0 - 0.05)).abs() < 1e-12);
        assert!((values(&b)[0] - (1.0 - 0.2 * 1.1)).abs() < 1e-12);
        assert_eq!(values(&frozen), [5.0]);
        assert!(
            opt.state_tensors().is_empty(),
            "no buffers without momentum"
        );
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let make = |p: &Tensor| {
            Sgd::new(
                vec![ParamGroup::new(
                    "g",
                    vec![("p".into(), p.shallow_clone())],
                    1.0,
                    1e-3,
                )],
                0.1,
                SgdConfig::default(),
            )
            .unwrap()
        };
        let p1 = Tensor::randn([5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let p2 = p1.detach().copy().set_requires_grad(true);
        let mut o1 = make(&p1);
        let g1 = Tensor::randn([5], (Kind::Float, Device::Cpu));
        let g2 = Tensor::randn([5], (Kind::Float, Device::Cpu));
        let grad = |p: &Tensor, g: &Tensor| {
            let mut q = p.shallow_clone();
            q.zero_grad();
            (p * g).sum(Kind::Float).backward();
        };
        grad(&p1, &g1);
        o1.step().unwrap();
        tch::no_grad(|| p2.shallow_clone().copy_(&p1));
        let mut o2 = make(&p2);
        let saved: Vec<(String, Tensor)> = o1
            .state_tensors()
            .into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect();
        o2.load_state_tensors(&saved).unwrap();
        grad(&p1, &g2);
        o1.step().unwrap();
        grad(&p2, &g2);
        o2.step().unwrap();
        assert!(p1.equal(&p2));
    }

    #[test]
    fn bad_configs_and_state_are_errors() {
        let p = param(&[1.0]);
        let dup = vec![
            ParamGroup::new("a", vec![("x".into(), p.shallow_clone())], 1.0, 0.0),
            ParamGroup::new("b", vec![("x".into(), p.shallow_clone())], 1.0, 0.0),
        ];
        assert!(Sgd::new(dup, 0.1, SgdConfig::default())
            .unwrap_err()
            .to_string()
            .contains("appears twice"));
        let g = || {
            vec![ParamGroup::new(
                "a",
                vec![("x".into(), p.shallow_clone())],
                1.0,
                0.0,
            )]
        };
        assert!(Sgd::new(g(), f64::NAN, SgdConfig::default()).is_err());
        assert!(Sgd::new(
            g(),
            0.1,
            SgdConfig {
                momentum: 0.0,
                dampening: 0.0,
                nesterov: true
            }
        )
        .is_err());
        let mut o = Sgd::new(g(), 0.1, SgdConfig::default()).unwrap();
        let e = o
            .load_state_tensors(&[("momentum_buffer.y".into(), Tensor::from_slice(&[1.0f64]))])
            .unwrap_err();
        assert!(e.to_string().contains("'y'"));
        assert!(o
            .load_state_tensors(&[(
                "momentum_buffer.x".into(),
                Tensor::from_slice(&[1.0f64, 2.0])
            )])
            .is_err());
    }
}
