//! Every random stream of the project, in one place.
//!
//! One generator type, [`Rng`], with one meaning per method name (`unit` is [0, 1),
//! `uniform(lo, hi)` is [lo, hi), each `below*` names its integer method), over two engines:
//! [`SplitMix64`] (the dataset builder, samplers and augmentation) and [`Xoshiro256`] (mixup,
//! seeded through SplitMix64). [`streams`] derives the generator of each purpose from its
//! seeds; every stream keeps the exact values it had before this module existed
//! (`lt-data/tests/rng.rs` pins them), so resumed runs and rebuilt splits stay bit-exact.
//! [`numpy`] is numpy's legacy MT19937, for `--compat ldam` splits.
//!
//! ```
//! use lt_data::rng::streams;
//! let mut a = streams::sampler_epoch(7, 3);
//! let mut b = streams::sampler_epoch(7, 3);
//! assert_eq!(a.next_u64(), b.next_u64());
//! let x = a.uniform(-1.0, 1.0);
//! assert!((-1.0..1.0).contains(&x));
//! ```

mod distributions;
mod generator;
pub mod numpy;
mod splitmix;
pub mod streams;
mod xoshiro;

pub use generator::{Engine, Rng};
pub use splitmix::{mix64, SplitMix64};
pub use xoshiro::Xoshiro256;
