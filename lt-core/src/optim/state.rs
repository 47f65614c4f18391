//! The optimiser state of a checkpoint: one momentum buffer per parameter that has taken a
//! step, named `momentum_buffer.<parameter name>`.

use super::Sgd;
use crate::{Error, Result};
use std::collections::HashMap;
use tch::Tensor;

/// Prefix of momentum buffers in [`Sgd::state_tensors`].
pub const MOMENTUM_PREFIX: &str = "momentum_buffer.";

impl Sgd {
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
    use crate::optim::test_util::param;
    use tch::{Device, Kind};

    fn over(p: &Tensor) -> Sgd {
        Sgd::single_group(vec![("p".into(), p.shallow_clone())], 0.1, 1e-3).unwrap()
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let p1 = Tensor::randn([5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let p2 = p1.detach().copy().set_requires_grad(true);
        let mut o1 = over(&p1);
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
        let mut o2 = over(&p2);
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
    fn unknown_names_and_wrong_shapes_are_errors() {
        let p = param(&[1.0]);
        let mut o = Sgd::single_group(vec![("x".into(), p.shallow_clone())], 0.1, 0.0).unwrap();
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
