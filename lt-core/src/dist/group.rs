//! A c10d process group over the C++ shim (csrc/lt_dist.cpp): rendezvous, all-reduce,
//! broadcast, barrier.

use super::{DistConfig, DistError, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;
use tch::{Device, Kind, Tensor};

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    #[repr(C)]
    pub struct Group {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn lt_dist_has_gloo() -> c_int;
        pub fn lt_dist_has_nccl() -> c_int;
        #[allow(clippy::too_many_arguments)]
        pub fn lt_dist_init(
            master_addr: *const c_char,
            master_port: c_int,
            rank: c_int,
            world_size: c_int,
            timeout_ms: i64,
            gloo_iface: *const c_char,
            gloo_host: *const c_char,
            out: *mut *mut Group,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_dist_allreduce_sum(
            g: *mut Group,
            tensors: *const *mut c_void,
            n: usize,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_dist_broadcast(
            g: *mut Group,
            tensors: *const *mut c_void,
            n: usize,
            root: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_dist_barrier(
            g: *mut Group,
            cuda_device: c_int,
            err: *mut c_char,
            errlen: usize,
        ) -> c_int;
        pub fn lt_dist_destroy(g: *mut Group);
    }
}

/// Return codes of the shim (csrc/lt_dist.cpp).
const ERR_ARG: c_int = 1;
const ERR_UNAVAILABLE: c_int = 4;

/// Runs one shim call with an error buffer and turns its code into a `DistError`.
fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    let mut buf = vec![0u8; 2048];
    let code = f(buf.as_mut_ptr() as *mut c_char, buf.len());
    if code == 0 {
        return Ok(());
    }
    let msg = CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let msg = if msg.is_empty() {
        format!("{what} failed (code {code})")
    } else {
        msg
    };
    Err(match code {
        ERR_ARG => DistError::Usage(msg),
        ERR_UNAVAILABLE => DistError::Unavailable(msg),
        _ => DistError::Comm(msg),
    })
}

/// A c10d process group: a TCPStore rendezvous plus Gloo (CPU tensors) and, on first use with
/// CUDA tensors, NCCL. Collectives are blocking and must be called by every rank in the same
/// order. After an error the group is unusable; drop it and exit.
pub struct ProcessGroup {
    raw: NonNull<ffi::Group>,
    cfg: DistConfig,
}

// The c10d backends are thread-safe for use from one thread at a time; the handle is not shared.
unsafe impl Send for ProcessGroup {}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl ProcessGroup {
    /// Joins the job described by the launcher's environment ([`DistConfig::from_env`]);
    /// `Ok(None)` when there is none.
    pub fn from_env(timeout: Option<Duration>) -> Result<Option<ProcessGroup>> {
        DistConfig::from_env(timeout)?
            .map(ProcessGroup::new)
            .transpose()
    }

    /// Rendezvous at `cfg.master_addr:cfg.master_port` and connect the Gloo backend. The Gloo
    /// transport binds to `GLOO_SOCKET_IFNAME` when set (torch's variable), to loopback when the
    /// master is local, else to this machine's hostname address.
    pub fn new(cfg: DistConfig) -> Result<ProcessGroup> {
        let cstr = |what: &str, s: &str| {
            CString::new(s).map_err(|_| DistError::Env(format!("{what} contains a NUL byte")))
        };
        let addr = cstr("MASTER_ADDR", &cfg.master_addr)?;
        let iface = std::env::var("GLOO_SOCKET_IFNAME")
            .ok()
            .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
            .unwrap_or_default();
        let host = if iface.is_empty() && is_loopback(&cfg.master_addr) {
            "127.0.0.1"
        } else {
            ""
        };
        let iface = cstr("GLOO_SOCKET_IFNAME", &iface)?;
        let host = cstr("host", host)?;
        let to_int = |v: usize, what: &str| {
            c_int::try_from(v).map_err(|_| DistError::Env(format!("{what} {v} is too large")))
        };
        let (rank, world) = (
            to_int(cfg.rank, "rank")?,
            to_int(cfg.world_size, "world size")?,
        );
        let timeout_ms = i64::try_from(cfg.timeout.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let mut raw: *mut ffi::Group = std::ptr::null_mut();
        call("init", |err, len| unsafe {
            ffi::lt_dist_init(
                addr.as_ptr(),
                c_int::from(cfg.master_port),
                rank,
                world,
                timeout_ms,
                iface.as_ptr(),
                host.as_ptr(),
                &mut raw,
                err,
                len,
            )
        })
        .map_err(|e| match e {
            DistError::Comm(m) => DistError::Comm(format!(
                "rank {} of {}: {m} (timeout {:.0} s)",
                cfg.rank,
                cfg.world_size,
                cfg.timeout.as_secs_f64()
            )),
            e => e,
        })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| DistError::Comm("init returned no process group".into()))?;
        Ok(ProcessGroup { raw, cfg })
    }

    /// Whether the Gloo backend (CPU tensors) was compiled in.
    pub fn has_gloo() -> bool {
        unsafe { ffi::lt_dist_has_gloo() != 0 }
    }

    /// Whether the NCCL backend (CUDA tensors) was compiled in.
    pub fn has_nccl() -> bool {
        unsafe { ffi::lt_dist_has_nccl() != 0 }
    }

    pub fn rank(&self) -> usize {
        self.cfg.rank
    }

    pub fn world_size(&self) -> usize {
        self.cfg.world_size
    }

    pub fn local_rank(&self) -> usize {
        self.cfg.local_rank
    }

    /// Rank 0 alone writes checkpoints, logs and plots.
    pub fn is_main(&self) -> bool {
        self.cfg.rank == 0
    }

    pub fn config(&self) -> &DistConfig {
        &self.cfg
    }

    /// The device this rank should train on: CUDA `local_rank` when CUDA is available.
    pub fn device(&self) -> Device {
        if tch::Cuda::is_available() {
            Device::Cuda(self.cfg.local_rank)
        } else {
            Device::Cpu
        }
    }

    /// Adds who failed; the shim's message already names the operation.
    fn wrap(&self, e: DistError) -> DistError {
        match e {
            DistError::Comm(m) => DistError::Comm(format!(
                "rank {} of {}: {m}",
                self.cfg.rank, self.cfg.world_size
            )),
            e => e,
        }
    }

    fn handles(tensors: &mut [Tensor]) -> Result<Vec<*mut c_void>> {
        tensors
            .iter_mut()
            .enumerate()
            .map(|(i, t)| {
                if !t.defined() {
                    return Err(DistError::Usage(format!("tensor {i} is undefined")));
                }
                Ok(t.as_mut_ptr() as *mut c_void)
            })
            .collect()
    }

    /// Sums each tensor over all ranks, in place. Tensors may differ in shape and dtype; all
    /// must be dense and contiguous, and all on CPU (Gloo) or all on CUDA (NCCL).
    pub fn all_reduce_sum(&self, tensors: &mut [Tensor]) -> Result<()> {
        let ptrs = Self::handles(tensors)?;
        call("all_reduce", |err, len| unsafe {
            ffi::lt_dist_allreduce_sum(self.raw.as_ptr(), ptrs.as_ptr(), ptrs.len(), err, len)
        })
        .map_err(|e| self.wrap(e))
    }

    /// Averages each floating-point tensor over all ranks, in place.
    pub fn all_reduce_mean(&self, tensors: &mut [Tensor]) -> Result<()> {
        for (i, t) in tensors.iter().enumerate() {
            if t.defined() && !is_float(t.f_kind()?) {
                return Err(DistError::Usage(format!(
                    "all_reduce_mean: tensor {i} has integer kind {:?}",
                    t.kind()
                )));
            }
        }
        self.all_reduce_sum(tensors)?;
        let w = self.cfg.world_size as f64;
        tch::no_grad(|| -> Result<()> {
            for t in tensors.iter_mut() {
                let _ = t.f_div_scalar_(w)?;
            }
            Ok(())
        })
    }

    /// Overwrites each tensor with rank `root`'s copy.
    pub fn broadcast(&self, tensors: &mut [Tensor], root: usize) -> Result<()> {
        if root >= self.cfg.world_size {
            return Err(DistError::Usage(format!(
                "broadcast root {root} is outside the world size {}",
                self.cfg.world_size
            )));
        }
        let ptrs = Self::handles(tensors)?;
        call("broadcast", |err, len| unsafe {
            ffi::lt_dist_broadcast(
                self.raw.as_ptr(),
                ptrs.as_ptr(),
                ptrs.len(),
                root as c_int,
                err,
                len,
            )
        })
        .map_err(|e| self.wrap(e))
    }

    /// Returns once every rank has called it (or fails after the timeout).
    pub fn barrier(&self) -> Result<()> {
        let dev = self.cfg.local_rank as c_int;
        call("barrier", |err, len| unsafe {
            ffi::lt_dist_barrier(self.raw.as_ptr(), dev, err, len)
        })
        .map_err(|e| self.wrap(e))
    }
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Half | Kind::Float | Kind::Double | Kind::BFloat16)
}

fn is_loopback(addr: &str) -> bool {
    addr == "localhost"
        || addr == "::1"
        || addr
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        unsafe { ffi::lt_dist_destroy(self.raw.as_ptr()) }
    }
}
