//! Safe wrappers over the ATen operations tch does not bind (csrc/lt_ops.cpp): multi-tensor and
//! fused SGD, the gradient scaler's unscale-and-check, autocast with a chosen dtype, and the
//! channels-last memory format. Each returns `OpsError` with libtorch's one-line message.

use std::ffi::{c_char, c_int, c_void, CStr};
use tch::{Device, Tensor};

/// A libtorch error from the shim, or a bad argument.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {msg}")]
pub struct OpsError {
    pub op: &'static str,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, OpsError>;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        pub fn lt_sgd_step(
            params: *const *mut c_void,
            grads: *const *mut c_void,
            bufs: *const *mut c_void,
            n: usize,
            n_old: usize,
            lr: f64,
            weight_decay: f64,
            momentum: f64,
            dampening: f64,
            nesterov: c_int,
            fused: c_int,
            found_inf: *mut c_void,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_grad_set_none(
            params: *const *mut c_void,
            n: usize,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_amp_unscale(
            grads: *const *mut c_void,
            n: usize,
            found_inf: *mut c_void,
            inv_scale: *mut c_void,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_autocast_enter(
            device: c_int,
            dtype: c_int,
            prev_enabled: *mut c_int,
            prev_dtype: *mut c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_autocast_exit(
            device: c_int,
            prev_enabled: c_int,
            prev_dtype: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_channels_last(
            t: *mut c_void,
            out: *mut *mut c_void,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_set_channels_last(t: *mut c_void, err: *mut c_char, errlen: usize) -> c_int;
        pub fn lt_is_channels_last(t: *mut c_void) -> c_int;
    }
}

/// Runs one shim call with an error buffer (csrc/lt_guard.h writes the message).
pub(crate) fn call(op: &'static str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut buf = [0u8; 1024];
    if f(buf.as_mut_ptr() as *mut c_char, buf.len()) == 0 {
        return Ok(());
    }
    let msg = CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    Err(OpsError { op, msg })
}

fn ptr(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

fn ptrs(ts: &[&Tensor]) -> Vec<*mut c_void> {
    ts.iter().map(|t| ptr(t)).collect()
}

/// The hyper-parameters of one SGD update of a parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
}

/// Parameters, their gradients and momentum buffers; the first `n_old` buffers carry momentum,
/// the others are fresh (allocated, any content) and are initialised by the step.
pub struct SgdTensors<'a> {
    pub params: Vec<&'a Tensor>,
    pub grads: Vec<&'a Tensor>,
    pub bufs: Vec<&'a Tensor>,
    pub n_old: usize,
}

impl SgdTensors<'_> {
    fn check(&self, op: &'static str, s: &SgdStep) -> Result<()> {
        let n = self.params.len();
        let bufs_ok = if s.momentum != 0.0 {
            self.bufs.len() == n
        } else {
            self.bufs.is_empty()
        };
        if self.grads.len() != n || !bufs_ok || self.n_old > n {
            return Err(OpsError {
                op,
                msg: format!(
                    "{n} parameters, {} gradients, {} buffers ({} old)",
                    self.grads.len(),
                    self.bufs.len(),
                    self.n_old
                ),
            });
        }
        Ok(())
    }
}

/// Which kernels run an SGD update.
#[derive(Debug, Clone, Copy)]
pub enum SgdKernels<'a> {
    /// Multi-tensor (`_foreach_*`) kernels: the same bits as the per-tensor update (see
    /// `optim`), a handful of launches per group instead of several per tensor.
    Foreach,
    /// ATen's fused kernel, skipped on the device when `found_inf` holds a non-zero value (the
    /// mixed-precision step; nothing is read back to the host).
    Fused { found_inf: Option<&'a Tensor> },
}

/// One SGD update of a parameter group.
pub fn sgd_step(t: &SgdTensors, s: &SgdStep, kernels: SgdKernels) -> Result<()> {
    t.check("SGD", s)?;
    let (p, g, b) = (ptrs(&t.params), ptrs(&t.grads), ptrs(&t.bufs));
    let (fused, inf) = match kernels {
        SgdKernels::Foreach => (0, std::ptr::null_mut()),
        SgdKernels::Fused { found_inf } => (1, found_inf.map_or(std::ptr::null_mut(), ptr)),
    };
    call("SGD", |err, len| unsafe {
        ffi::lt_sgd_step(
            p.as_ptr(),
            g.as_ptr(),
            if b.is_empty() {
                std::ptr::null()
            } else {
                b.as_ptr()
            },
            p.len(),
            t.n_old,
            s.lr,
            s.weight_decay,
            s.momentum,
            s.dampening,
            s.nesterov as c_int,
            fused,
            inf,
            err,
            len,
        )
    })
}

/// Drops the gradients (`p.grad = None`, PyTorch's default `zero_grad`): backward then hands
/// each parameter a fresh gradient instead of adding into a zeroed one, and a parameter that
/// gets no gradient in a step is skipped by the optimiser, as in PyTorch.
pub fn grad_set_none(params: &[&Tensor]) -> Result<()> {
    let p = ptrs(params);
    call("zero_grad", |err, len| unsafe {
        ffi::lt_grad_set_none(p.as_ptr(), p.len(), err, len)
    })
}

/// Multiplies every gradient by `inv_scale` in place and sets `found_inf` to 1 when any is
/// inf or NaN (`torch._amp_foreach_non_finite_check_and_unscale_`).
pub fn amp_unscale(grads: &[&Tensor], found_inf: &Tensor, inv_scale: &Tensor) -> Result<()> {
    let g = ptrs(grads);
    call("gradient unscale", |err, len| unsafe {
        ffi::lt_amp_unscale(
            g.as_ptr(),
            g.len(),
            ptr(found_inf),
            ptr(inv_scale),
            err,
            len,
        )
    })
}

/// The reduced precision autocast computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfType {
    Bf16,
    F16,
}

/// Runs `f` under autocast on `device`'s type with `dtype`, restoring the previous state (and
/// clearing the cast cache when the outermost region ends) as `torch.autocast` does.
pub fn autocast<T>(device: Device, dtype: HalfType, f: impl FnOnce() -> T) -> Result<T> {
    let dev = match device {
        Device::Cpu => 0,
        Device::Cuda(_) => 1,
        other => {
            return Err(OpsError {
                op: "autocast",
                msg: format!("unsupported device {other:?}"),
            })
        }
    };
    let code = match dtype {
        HalfType::Bf16 => 0,
        HalfType::F16 => 1,
    };
    let (mut prev_on, mut prev_dtype) = (0, 0);
    call("autocast", |err, len| unsafe {
        ffi::lt_autocast_enter(dev, code, &mut prev_on, &mut prev_dtype, err, len)
    })?;
    let out = f();
    call("autocast", |err, len| unsafe {
        ffi::lt_autocast_exit(dev, prev_on, prev_dtype, err, len)
    })?;
    Ok(out)
}

/// A channels-last copy of a 4-d tensor (the same tensor when it already is).
pub fn channels_last(t: &Tensor) -> Result<Tensor> {
    let mut out: *mut c_void = std::ptr::null_mut();
    call("channels-last", |err, len| unsafe {
        ffi::lt_channels_last(ptr(t), &mut out, err, len)
    })?;
    // SAFETY: the shim returns a heap `at::Tensor*`, which tch's Tensor owns and frees.
    Ok(unsafe { Tensor::from_ptr(out as *mut _) })
}

/// Re-lays a 4-d parameter out channels-last in place, keeping its identity and gradient slot.
pub fn set_channels_last(t: &Tensor) -> Result<()> {
    call("channels-last", |err, len| unsafe {
        ffi::lt_set_channels_last(ptr(t), err, len)
    })
}

/// Whether a 4-d tensor's strides are channels-last.
pub fn is_channels_last(t: &Tensor) -> bool {
    unsafe { ffi::lt_is_channels_last(ptr(t)) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_device;
    use tch::Kind;

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        let d = test_device();
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, d)).reshape([2, 3, 4, 5]);
        assert!(!is_channels_last(&t));
        let c = channels_last(&t).unwrap();
        assert!(is_channels_last(&c));
        assert_eq!(c.stride(), [60, 1, 15, 3]);
        assert!(c.equal(&t));
        let p = t.copy().set_requires_grad(true);
        set_channels_last(&p).unwrap();
        assert!(is_channels_last(&p) && p.requires_grad() && p.equal(&t));
        assert!(channels_last(&Tensor::zeros([3], (Kind::Float, d))).is_err());
    }

    #[test]
    fn autocast_computes_matmul_in_the_reduced_type_and_restores() {
        let d = test_device();
        let a = Tensor::randn([4, 4], (Kind::Float, d));
        let mut types = vec![(HalfType::Bf16, Kind::BFloat16)];
        if d.is_cuda() {
            types.push((HalfType::F16, Kind::Half));
        }
        for (t, k) in types {
            assert_eq!(autocast(d, t, || a.matmul(&a).kind()).unwrap(), k);
            assert_eq!(a.matmul(&a).kind(), Kind::Float);
        }
    }

    #[test]
    fn unscale_flags_non_finite_gradients() {
        let d = test_device();
        let g1 = Tensor::from_slice(&[2.0f32, 4.0]).to_device(d);
        let g2 = Tensor::from_slice(&[8.0f32]).to_device(d);
        let inf = Tensor::zeros([1], (Kind::Float, d));
        let inv = Tensor::from_slice(&[0.5f32]).to_device(d);
        amp_unscale(&[&g1, &g2], &inf, &inv).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&g1.to_device(Device::Cpu)).unwrap(),
            [1.0, 2.0]
        );
        assert_eq!(f32::try_from(&inf.sum(Kind::Float)).unwrap(), 0.0);
        let g3 = Tensor::from_slice(&[f32::INFINITY]).to_device(d);
        amp_unscale(&[&g1, &g3], &inf, &inv).unwrap();
        assert_eq!(f32::try_from(&inf.sum(Kind::Float)).unwrap(), 1.0);
    }
}
