//! SGD with momentum, Nesterov and weight decay, written over plain tensors so that parameters
//! from anywhere (our VarStore, or a plugin's head) can be optimised together.
//!
//! The update is the one of `torch.optim.SGD` (single-tensor path), per parameter `p` with
//! gradient `g`:
//! ```text
//! d = g + wd * p
//! buf = d                                   (first step)
//! buf = momentum * buf + (1 - dampening) * d (later steps)
//! d = d + momentum * buf  (nesterov)  |  d = buf
//! p = p - lr * d
//! ```
//! PyTorch fuses `a + alpha * b` into one kernel (an FMA on vectorised CPU paths); tch does not
//! expose `alpha`, so here the product is rounded first: results agree with PyTorch to about
//! one float ulp per step, not bit for bit.
//!
//! Parameters without a gradient (frozen, `requires_grad` off, or unused) are skipped, and
//! get no momentum buffer, as in PyTorch.
use anyhow::{bail, Result};
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
            bail!("invalid learning rate {lr}");
        }
        if !(config.momentum.is_finite() && config.momentum >= 0.0) {
            bail!("invalid momentum {}", config.momentum);
        }
        if config.nesterov && (config.momentum <= 0.0 || config.dampening != 0.0) {
            bail!("Nesterov momentum requires a momentum > 0 and zero dampening");
        }
        let mut seen = HashSet::new();
        for g in &groups {
            if !(g.weight_decay.is_finite() && g.weight_decay >= 0.0) {
                bail!(
                    "parameter group '{}': invalid weight decay {}",
                    g.name,
                    g.weight_decay
                );
            }
            if !(g.lr_factor.is_finite() && g.lr_factor >= 0.0) {
                bail!(
                    "parameter group '{}': invalid lr factor {}",
                    g.name,
                    g.lr_factor
                );
            }
            for (n, _) in &g.params {
                if !seen.insert(n.clone()) {
                    bail!(
                        "parameter '{n}' appears twice in the optimiser (group '{}')",
                        g.name
                    );
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

    /// Zeroes every defined gradient in place (call before `backward`).
    pub fn zero_grad(&mut self) {
        for g in &mut self.groups {
            for (_, p) in &mut g.params {
                p.zero_grad();
            }
        }
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self) -> Result<()> {
        let SgdConfig {
            momentum,
            dampening,
            nesterov,
        } = self.config;
        let _guard = tch::no_grad_guard();
        for g in &self.groups {
            let lr = self.lr * g.lr_factor;
            for (name, p) in &g.params {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let mut d = if g.weight_decay != 0.0 {
                    grad.f_add(&p.f_mul_scalar(g.weight_decay)?)?
                } else {
                    grad
                };
                if momentum != 0.0 {
                    let buf = match self.buffers.get_mut(name) {
                        Some(buf) => {
                            let _ = buf.f_mul_scalar_(momentum)?;
                            if dampening != 0.0 {
                                let _ = buf.f_add_(&d.f_mul_scalar(1.0 - dampening)?)?;
                            } else {
                                let _ = buf.f_add_(&d)?;
                            }
                            buf.shallow_clone()
                        }
                        None => {
                            let buf = d.f_detach()?.copy();
                            self.buffers.insert(name.clone(), buf.shallow_clone());
                            buf
                        }
                    };
                    d = if nesterov {
                        d.f_add(&buf.f_mul_scalar(momentum)?)?
                    } else {
                        buf
                    };
                }
                let mut p = p.shallow_clone();
                let _ = p.f_sub_(&d.f_mul_scalar(lr)?)?;
            }
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
                bail!(
                    "optimiser state names parameter '{pname}', which this optimiser does not have"
                );
            };
            if t.size() != p.size() {
                bail!(
                    "optimiser state for '{pname}' has shape {:?}, the parameter {:?}",
                    t.size(),
                    p.size()
                );
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
            opt.zero_grad();
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
