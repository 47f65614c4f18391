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
//!
//! One file per concept: [`SgdConfig`] (config.rs), [`ParamGroup`] (param_group.rs), the
//! update itself (sgd.rs) and the momentum state written to checkpoints (state.rs).

mod config;
mod param_group;
mod sgd;
mod state;
#[cfg(test)]
mod test_util;

pub use config::SgdConfig;
pub use param_group::ParamGroup;
pub use sgd::Sgd;
pub use state::MOMENTUM_PREFIX;
