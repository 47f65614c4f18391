//! Data-parallel training over libtorch's own c10d (Gloo for CPU tensors, NCCL for CUDA
//! tensors), through the small C++ shim in `csrc/`.
//!
//! Launch follows the cluster conventions: torchrun's `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
//! `MASTER_ADDR`, `MASTER_PORT`, or SLURM's `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` and
//! node list. Rank 0 hosts a TCPStore at the master address; every rendezvous and collective is
//! bounded by a timeout (argument, else `LT_DIST_TIMEOUT` seconds, else 300 s) so a missing or
//! dead peer becomes an error instead of a hang.
//!
//! Gradient averaging ([`GradSync`]) runs after `backward()` over flat ~25 MB buckets: tch does
//! not expose autograd hooks on parameters, so overlapping communication with the backward pass
//! (as PyTorch's DDP does) is not possible from here.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;

use tch::{Device, Kind, Tensor};

/// Timeout when neither the caller nor `LT_DIST_TIMEOUT` gives one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// Port of the rendezvous store when `MASTER_PORT` is unset (torch's default too).
pub const DEFAULT_MASTER_PORT: u16 = 29500;
/// Bucket size of [`GradSync`], as PyTorch DDP's default.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Errors of the distributed layer; messages are one line and name the variable or operation.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// The launch environment (torchrun / SLURM variables) is inconsistent or malformed.
    #[error("distributed launch: {0}")]
    Env(String),
    /// A c10d operation failed: rendezvous, connection, collective, timeout, dead peer.
    #[error("c10d: {0}")]
    Comm(String),
    /// A backend is not compiled in (Gloo headers or NCCL/CUDA headers missing at build time).
    #[error("c10d backend unavailable: {0}")]
    Unavailable(String),
    /// Bad arguments or tensors.
    #[error("distributed: {0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, DistError>;

impl From<tch::TchError> for DistError {
    fn from(e: tch::TchError) -> Self {
        DistError::Usage(e.to_string().lines().next().unwrap_or("").to_string())
    }
}

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

/// Where this process sits in the job, read from the launcher's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistConfig {
    pub rank: usize,
    pub world_size: usize,
    pub local_rank: usize,
    pub master_addr: String,
    pub master_port: u16,
    pub timeout: Duration,
}

impl DistConfig {
    /// Reads torchrun's or SLURM's variables from the process environment; `Ok(None)` when the
    /// process was not started by a distributed launcher (or SLURM runs a single task).
    pub fn from_env(timeout: Option<Duration>) -> Result<Option<DistConfig>> {
        Self::from_lookup(|k| std::env::var(k).ok(), timeout)
    }

    /// As [`DistConfig::from_env`], with the variables looked up through `get` (for tests and
    /// for callers that carry their own environment).
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Option<DistConfig>> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let timeout = match timeout {
            Some(t) => t,
            None => match get("LT_DIST_TIMEOUT") {
                Some(v) => parse_timeout(&v)?,
                None => DEFAULT_TIMEOUT,
            },
        };
        let master_port =
            match get("MASTER_PORT") {
                Some(v) => v.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                    DistError::Env(format!("MASTER_PORT={v} is not a port number"))
                })?,
                None => DEFAULT_MASTER_PORT,
            };
        let (rank, world_size, local_rank, master_addr) = if let Some(rank) = get("RANK") {
            let rank = parse_count("RANK", &rank)?;
            let world = get("WORLD_SIZE")
                .ok_or_else(|| DistError::Env("RANK is set but WORLD_SIZE is not".into()))?;
            let world = parse_count("WORLD_SIZE", &world)?;
            let local = match get("LOCAL_RANK") {
                Some(v) => parse_count("LOCAL_RANK", &v)?,
                None => 0,
            };
            let addr = get("MASTER_ADDR")
                .ok_or_else(|| DistError::Env("RANK is set but MASTER_ADDR is not".into()))?;
            (rank, world, local, addr)
        } else if let Some(procid) = get("SLURM_PROCID") {
            let rank = parse_count("SLURM_PROCID", &procid)?;
            let world = match get("SLURM_NTASKS").or_else(|| get("SLURM_NPROCS")) {
                Some(v) => parse_count("SLURM_NTASKS", &v)?,
                None => return Ok(None),
            };
            if world <= 1 {
                // A single-task allocation (salloc, plain sbatch) is not a distributed run.
                return Ok(None);
            }
            let local = match get("SLURM_LOCALID") {
                Some(v) => parse_count("SLURM_LOCALID", &v)?,
                None => 0,
            };
            let addr = match get("MASTER_ADDR") {
                Some(a) => a,
                None => {
                    let (var, list) = [
                        "SLURM_STEP_NODELIST",
                        "SLURM_JOB_NODELIST",
                        "SLURM_NODELIST",
                    ]
                    .iter()
                    .find_map(|k| get(k).map(|v| (*k, v)))
                    .ok_or_else(|| {
                        DistError::Env(
                            "SLURM_PROCID is set but neither MASTER_ADDR nor a SLURM node \
                                 list (SLURM_JOB_NODELIST) is"
                                .into(),
                        )
                    })?;
                    let hosts = expand_nodelist(&list)
                        .map_err(|e| DistError::Env(format!("{var}={list}: {e}")))?;
                    hosts.into_iter().next().ok_or_else(|| {
                        DistError::Env(format!("{var}={list}: the node list is empty"))
                    })?
                }
            };
            (rank, world, local, addr)
        } else {
            return Ok(None);
        };
        if world_size == 0 || rank >= world_size {
            return Err(DistError::Env(format!(
                "rank {rank} is outside the world size {world_size}"
            )));
        }
        Ok(Some(DistConfig {
            rank,
            world_size,
            local_rank,
            master_addr,
            master_port,
            timeout,
        }))
    }
}

fn parse_count(var: &str, v: &str) -> Result<usize> {
    v.parse::<usize>()
        .map_err(|_| DistError::Env(format!("{var}={v} is not a non-negative integer")))
}

fn parse_timeout(v: &str) -> Result<Duration> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            DistError::Env(format!(
                "LT_DIST_TIMEOUT={v} is not a positive number of seconds"
            ))
        })
}

/// Expands a SLURM host list such as `node[01-04,07],gpu7` into host names, keeping the zero
/// padding of ranges; several bracket groups in one name expand to their product.
pub fn expand_nodelist(list: &str) -> std::result::Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in list.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced ']' at byte {i}"))?
            }
            ',' if depth == 0 => {
                expand_host(&list[start..i], &mut hosts)?;
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '['".into());
    }
    expand_host(&list[start..], &mut hosts)?;
    Ok(hosts)
}

fn expand_host(pattern: &str, out: &mut Vec<String>) -> std::result::Result<(), String> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Ok(());
    }
    let Some(open) = pattern.find('[') else {
        out.push(pattern.to_string());
        return Ok(());
    };
    let close = pattern[open..]
        .find(']')
        .map(|c| open + c)
        .ok_or_else(|| format!("unbalanced '[' in {pattern}"))?;
    let (prefix, body, rest) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    for item in body.split(',') {
        let item = item.trim();
        let (lo, hi) = item.split_once('-').unwrap_or((item, item));
        let bad = || format!("bad range '{item}' in {pattern}");
        let a: u64 = lo.parse().map_err(|_| bad())?;
        let b: u64 = hi.parse().map_err(|_| bad())?;
        if b < a || b - a > 100_000 {
            return Err(bad());
        }
        let width = lo.len();
        for n in a..=b {
            let mut tail = Vec::new();
            expand_host(rest, &mut tail)?;
            if tail.is_empty() {
                tail.push(String::new());
            }
            for t in tail {
                out.push(format!("{prefix}{n:0width$}{t}"));
            }
        }
    }
    Ok(())
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

/// One flat buffer holding a run of same-kind, same-device tensors.
struct Bucket {
    /// (index into the tensor list, offset, numel)
    members: Vec<(usize, i64, i64)>,
    buffer: Tensor,
}

/// Splits `tensors` (in order) into buckets of at most `bucket_bytes` (a larger tensor gets a
/// bucket of its own), one kind and device per bucket.
fn make_buckets(tensors: &[Tensor], bucket_bytes: usize) -> Result<Vec<Bucket>> {
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut cur: Vec<(usize, i64, i64)> = Vec::new();
    let mut cur_key: Option<(Kind, Device)> = None;
    let mut cur_bytes = 0usize;
    let flush = |cur: &mut Vec<(usize, i64, i64)>,
                 key: Option<(Kind, Device)>,
                 buckets: &mut Vec<Bucket>|
     -> Result<()> {
        if let (Some((kind, device)), Some(&(_, off, n))) = (key, cur.last()) {
            let buffer = Tensor::f_zeros([off + n], (kind, device))?;
            buckets.push(Bucket {
                members: std::mem::take(cur),
                buffer,
            });
        }
        Ok(())
    };
    for (i, t) in tensors.iter().enumerate() {
        if !t.defined() {
            return Err(DistError::Usage(format!("parameter {i} is undefined")));
        }
        let key = (t.f_kind()?, t.device());
        let n = t.numel() as i64;
        let bytes = t.numel() * key.0.elt_size_in_bytes();
        if cur_key != Some(key) || (cur_bytes > 0 && cur_bytes + bytes > bucket_bytes) {
            flush(&mut cur, cur_key, &mut buckets)?;
            cur_bytes = 0;
            cur_key = Some(key);
        }
        let off = cur.last().map_or(0, |&(_, o, n)| o + n);
        cur.push((i, off, n));
        cur_bytes += bytes;
    }
    flush(&mut cur, cur_key, &mut buckets)?;
    Ok(buckets)
}

/// Checks that every rank holds the same tensor layout, so that mismatched models fail with a
/// clear error instead of mismatched collectives.
fn check_same_layout(pg: &ProcessGroup, tensors: &[Tensor], what: &str) -> Result<()> {
    let mut sig = [tensors.len() as i64, 0, 0];
    for t in tensors {
        let n = t.numel() as i64;
        sig[1] += n;
        sig[2] = sig[2].wrapping_mul(1_000_003).wrapping_add(n);
    }
    let mine = Tensor::from_slice(&sig);
    let mut theirs = [mine.copy()];
    pg.broadcast(&mut theirs, 0)?;
    let mut got = [0i64; 3];
    theirs[0].f_copy_data(&mut got, 3)?;
    if got != sig {
        return Err(DistError::Usage(format!(
            "{what}: rank {} has {} tensors / {} elements but rank 0 has {} / {} (or a different \
             order): every rank must build the same model",
            pg.rank(),
            sig[0],
            sig[1],
            got[0],
            got[1]
        )));
    }
    Ok(())
}

/// Averages the gradients of a fixed list of parameters across ranks, in ~25 MB flat buckets:
/// call [`GradSync::sync`] after `backward()` and before the optimiser step. Every rank must pass
/// its parameters in the same order (e.g. `VarStore::trainable_variables()`). A parameter whose
/// gradient is undefined on this rank contributes zeros and keeps no gradient.
pub struct GradSync {
    params: Vec<Tensor>,
    buckets: Vec<Bucket>,
}

impl GradSync {
    /// Buckets of [`DEFAULT_BUCKET_BYTES`]; checks that all ranks hold the same layout.
    pub fn new(pg: &ProcessGroup, params: &[Tensor]) -> Result<GradSync> {
        Self::with_bucket_bytes(pg, params, DEFAULT_BUCKET_BYTES)
    }

    pub fn with_bucket_bytes(
        pg: &ProcessGroup,
        params: &[Tensor],
        bucket_bytes: usize,
    ) -> Result<GradSync> {
        check_same_layout(pg, params, "GradSync")?;
        let params: Vec<Tensor> = params.iter().map(Tensor::shallow_clone).collect();
        let buckets = make_buckets(&params, bucket_bytes.max(1))?;
        Ok(GradSync { params, buckets })
    }

    pub fn num_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Replaces every parameter's gradient by its mean over all ranks. All buckets go to c10d
    /// in one call, so Gloo's worker threads reduce several of them at once.
    pub fn sync(&mut self, pg: &ProcessGroup) -> Result<()> {
        let world = pg.world_size() as f64;
        let params = &self.params;
        tch::no_grad(|| -> Result<()> {
            for b in self.buckets.iter_mut() {
                for &(i, off, n) in &b.members {
                    let g = params[i].f_grad()?;
                    let mut slot = b.buffer.f_narrow(0, off, n)?;
                    if g.defined() {
                        slot.f_copy_(&g.f_reshape([-1])?)?;
                    } else {
                        let _ = slot.f_zero_()?;
                    }
                }
            }
            let mut buffers: Vec<Tensor> = self
                .buckets
                .iter()
                .map(|b| b.buffer.shallow_clone())
                .collect();
            pg.all_reduce_sum(&mut buffers)?;
            for b in self.buckets.iter_mut() {
                let _ = b.buffer.f_div_scalar_(world)?;
                for &(i, off, n) in &b.members {
                    let mut g = params[i].f_grad()?;
                    if g.defined() {
                        let src = b.buffer.f_narrow(0, off, n)?.f_view_as(&g)?;
                        g.f_copy_(&src)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Overwrites the parameters with rank 0's values (call once before training).
    pub fn broadcast_parameters(&mut self, pg: &ProcessGroup) -> Result<()> {
        broadcast_in_buckets(pg, &self.params, &mut self.buckets)
    }
}

/// Overwrites `params` on every rank with rank 0's values, in flat buckets; call once before
/// training so that all replicas start from the same weights.
pub fn broadcast_parameters(pg: &ProcessGroup, params: &[Tensor]) -> Result<()> {
    check_same_layout(pg, params, "broadcast_parameters")?;
    let mut buckets = make_buckets(params, DEFAULT_BUCKET_BYTES)?;
    broadcast_in_buckets(pg, params, &mut buckets)
}

fn broadcast_in_buckets(
    pg: &ProcessGroup,
    params: &[Tensor],
    buckets: &mut [Bucket],
) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for b in buckets.iter_mut() {
            if pg.rank() == 0 {
                for &(i, off, n) in &b.members {
                    b.buffer
                        .f_narrow(0, off, n)?
                        .f_copy_(&params[i].f_reshape([-1])?)?;
                }
            }
            pg.broadcast(std::slice::from_mut(&mut b.buffer), 0)?;
            for &(i, off, n) in &b.members {
                let mut p = params[i].shallow_clone();
                let src = b.buffer.f_narrow(0, off, n)?.f_view_as(&p)?;
                p.f_copy_(&src)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Option<DistConfig>> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DistConfig::from_lookup(|k| m.get(k).cloned(), None)
    }

    #[test]
    fn nodelist_expansion() {
        assert_eq!(
            expand_nodelist("node[01-04],gpu7").unwrap(),
            ["node01", "node02", "node03", "node04", "gpu7"]
        );
        assert_eq!(
            expand_nodelist("a[8-10,12]-ib").unwrap(),
            ["a8-ib", "a9-ib", "a10-ib", "a12-ib"]
        );
        assert_eq!(
            expand_nodelist("r[1-2]n[1-2]").unwrap(),
            ["r1n1", "r1n2", "r2n1", "r2n2"]
        );
        assert_eq!(expand_nodelist("single").unwrap(), ["single"]);
        assert!(expand_nodelist("node[01-").is_err());
        assert!(expand_nodelist("node[4-2]").is_err());
        assert!(expand_nodelist("node[x]").is_err());
    }

    #[test]
    fn torchrun_env() {
        let c = cfg(&[
            ("RANK", "3"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.2"),
            ("MASTER_PORT", "1234"),
            ("LT_DIST_TIMEOUT", "7.5"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            DistConfig {
                rank: 3,
                world_size: 8,
                local_rank: 1,
                master_addr: "10.0.0.2".into(),
                master_port: 1234,
                timeout: Duration::from_millis(7500),
            }
        );
        assert!(cfg(&[]).unwrap().is_none());
        let e = cfg(&[("RANK", "0"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("MASTER_ADDR"), "{e}");
        let e = cfg(&[("RANK", "2"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        let e = cfg(&[("RANK", "x"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h")]).unwrap_err();
        assert!(e.to_string().contains("RANK=x"), "{e}");
        let e = cfg(&[
            ("RANK", "0"),
            ("WORLD_SIZE", "2"),
            ("MASTER_ADDR", "h"),
            ("LT_DIST_TIMEOUT", "-1"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("LT_DIST_TIMEOUT"), "{e}");
    }

    #[test]
    fn slurm_env() {
        let c = cfg(&[
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[03-04],cpu1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.rank, c.world_size, c.local_rank), (5, 8, 1));
        assert_eq!(c.master_addr, "gpu03");
        assert_eq!(c.master_port, DEFAULT_MASTER_PORT);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        // torchrun's variables win over SLURM's (torchrun inside an srun step).
        let c = cfg(&[
            ("SLURM_PROCID", "0"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_NODELIST", "n1"),
            ("RANK", "1"),
            ("WORLD_SIZE", "4"),
            ("MASTER_ADDR", "m"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((c.rank, c.world_size, c.master_addr.as_str()), (1, 4, "m"));
        assert!(cfg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")])
            .unwrap()
            .is_none());
        let e = cfg(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]).unwrap_err();
        assert!(e.to_string().contains("node list"), "{e}");
    }

    #[test]
    fn buckets_split_by_size_and_kind() {
        let ts = vec![
            Tensor::zeros([10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([20], (Kind::Float, Device::Cpu)),
            Tensor::zeros([5], (Kind::Double, Device::Cpu)),
            Tensor::zeros([100], (Kind::Double, Device::Cpu)),
        ];
        // 128-byte cap: floats 40 + 80 fit; doubles 40 then 800 (over cap, own bucket).
        let b = make_buckets(&ts, 128).unwrap();
        let layout: Vec<Vec<(usize, i64, i64)>> = b.iter().map(|b| b.members.clone()).collect();
        assert_eq!(
            layout,
            vec![
                vec![(0, 0, 10), (1, 10, 20)],
                vec![(2, 0, 5)],
                vec![(3, 0, 100)]
            ]
        );
        assert_eq!(b[0].buffer.size(), [30]);
        assert_eq!(b[2].buffer.kind(), Kind::Double);
    }
}
