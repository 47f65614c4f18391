//! Using a trained model (a checkpoint rebuilt by [`crate::train::Restore`]):
//!
//! - `lt-train eval`: the metrics of the evaluation split, as the run computed them
//!   ([`crate::train::Trained::evaluate`]), and their JSON ([`eval`]);
//! - `lt-train predict`: image files decoded and prepared as their dataset's samples were
//!   ([`images`]), their logits and probabilities ([`predict`]) as CSV ([`csv`]).
//!
//! [`fits`] refuses a checkpoint whose model does not fit the dataset it is asked to read.

pub mod csv;
pub mod eval;
pub mod fits;
pub mod images;
pub mod predict;

pub use predict::{predict, predict_csv, Prediction, Request};
