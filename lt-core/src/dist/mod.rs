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

mod buckets;
mod error;
mod group;
mod launch;
mod nodelist;

pub use buckets::{broadcast_parameters, GradSync, DEFAULT_BUCKET_BYTES};
pub use error::{DistError, Result};
pub use group::ProcessGroup;
pub use launch::{DistConfig, DEFAULT_MASTER_PORT, DEFAULT_TIMEOUT};
pub use nodelist::{expand_nodelist, NodelistError};
