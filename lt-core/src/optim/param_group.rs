//! A parameter group (own learning-rate factor and weight decay) and the selection of its
//! parameters that have a gradient in this step.

use crate::Result;
use std::collections::HashMap;
use tch::Tensor;

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

pub(super) fn with_grads<'a>(
    g: &'a ParamGroup,
    buffers: &HashMap<String, Tensor>,
) -> Result<WithGrads<'a>> {
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
