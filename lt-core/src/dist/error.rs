//! The distributed layer's error type: one-line messages naming the variable or operation.

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
