//! The optimiser: validation of the hyper-parameters, `zero_grad` and the update of every
//! group through the multi-tensor or the fused kernels (see the module doc of [`super`]).

use super::param_group::with_grads;
use super::{ParamGroup, SgdConfig};
use crate::ops;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use tch::Tensor;

/// Stochastic gradient descent over parameter groups.
#[derive(Debug)]
pub struct Sgd {
    pub(super) groups: Vec<ParamGroup>,
    config: SgdConfig,
    lr: f64,
    /// Momentum buffers keyed by parameter name.
    pub(super) buffers: HashMap<String, Tensor>,
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

    /// One group named `all` holding `params` (learning-rate factor 1) with the default
    /// momentum: the optimiser of the benchmark and of tests.
    pub fn single_group(params: Vec<(String, Tensor)>, lr: f64, weight_decay: f64) -> Result<Self> {
        Sgd::new(
            vec![ParamGroup::new("all", params, 1.0, weight_decay)],
            lr,
            SgdConfig::default(),
        )
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{param, set_grad, values};
    use crate::optim::MOMENTUM_PREFIX;
    use tch::Kind;

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
        let mut a = Sgd::single_group(vec![("w".into(), p.shallow_clone())], 0.05, 1e-3).unwrap();
        let mut b = Sgd::single_group(vec![("w".into(), q.shallow_clone())], 0.05, 1e-3).unwrap();
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
        let mut opt = Sgd::single_group(vec![("w".into(), p.shallow_clone())], 0.1, 0.01).unwrap();
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
    fn bad_configs_are_errors() {
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
    }
}
