//! Fixtures the unit tests share.

use lt_plugin::tch::{Kind, Tensor};
use lt_plugin::{Config, StepCtx};
use std::sync::{Mutex, MutexGuard};

/// Serialises the tests that draw from tch's global generator (building a model does), so that
/// a test re-seeding it sees its own draws.
static RNG: Mutex<()> = Mutex::new(());

/// Holds the generator for the rest of the calling test.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A config from JSON text.
pub fn cfg(json: &str) -> Config {
    Config::from_json(json).unwrap()
}

/// Stage 1, epoch `epoch` (zero-based) of `total`.
pub fn ctx(epoch: u32, total: u32) -> StepCtx {
    StepCtx {
        epoch,
        total_epochs: total,
        stage: 1,
        step: 0,
    }
}

/// A [rows, -1] double tensor.
pub fn t2(v: &[f64], rows: i64) -> Tensor {
    Tensor::from_slice(v).reshape([rows, -1])
}

/// A tensor's values as f64, flattened.
pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::try_from(t.reshape([-1]).to_kind(Kind::Double)).unwrap()
}

/// Asserts two value lists agree to `tol`.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < tol, "{got:?} vs {want:?}");
    }
}
