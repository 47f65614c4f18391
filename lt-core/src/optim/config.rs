//! The hyper-parameters every parameter group shares: momentum, dampening, Nesterov.

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
