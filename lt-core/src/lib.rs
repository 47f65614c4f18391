//! Training side of the toolkit: backbones, optimisation, metrics, checkpoints, the plugin host.
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod dist;
pub mod metrics;
pub mod mixup;
pub mod model;
pub mod optim;
pub mod plugin;
pub mod schedule;
pub mod train;
