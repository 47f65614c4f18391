//! Training side of the toolkit: backbones, optimisation, metrics, checkpoints, the plugin host.
pub mod model;
pub mod dist;
pub mod metrics;
pub mod optim;
pub mod schedule;
pub mod mixup;
pub mod checkpoint;
pub mod bench;
pub mod device;
pub mod plugin;
