//! The dataset of a run and the loaders over it: the checked dataset, the augmentation its
//! manifest names (on the host, or only the host part of it when the device finishes the
//! batch), and the samplers the trainer wraps around a method's sampler.

use super::components::Plugins;
use super::device_aug::Finish;
use crate::config::{Config, StageConfig};
use crate::dist::ProcessGroup;
use crate::metrics::Shot;
use crate::plugin::{DatasetInfo, PluginSampler};
use crate::{Error, Result};
use lt_data::augment::{Augment, Kind as AugKind, Pipeline};
use lt_data::dataset::Dataset;
use lt_data::format::{Layout, Reader};
use lt_data::loader::{Allocator, Loader, LoaderConfig};
use lt_data::manifest::Manifest;
use lt_data::sampler::{self, Sampler};
use std::path::Path;
use std::sync::Arc;

/// Everything loaded once for the run.
pub(super) struct Data {
    pub manifest: Manifest,
    pub train: Arc<Reader>,
    pub test: Arc<Reader>,
    /// The `eval_splits` the final evaluation covers, by name.
    pub splits: Vec<(String, Arc<Reader>)>,
    pub groups: Vec<Shot>,
    pub in_channels: i64,
}

/// Opens the dataset with every check `lt-data verify` makes but the checksums (headers
/// against the manifest, splits against each other, normalisation and augmentation).
/// `eval_splits` are opened too (their names checked before any training), in order.
pub(super) fn load_data(
    dir: &Path,
    eval_split: &str,
    eval_splits: &[String],
) -> lt_data::Result<Data> {
    let d = Dataset::open(dir)?;
    let train = d.split("train")?.clone();
    let test = d.split(eval_split)?.clone();
    let splits = eval_splits
        .iter()
        .map(|n| Ok((n.clone(), d.split(n)?.clone())))
        .collect::<lt_data::Result<_>>()?;
    let manifest = d.manifest;
    let in_channels = match (train.layout(), manifest.augment) {
        (Layout::Raw { channels, .. }, Pipeline::Cifar) => channels as i64,
        _ => 3,
    };
    let groups = manifest.groups.clone();
    Ok(Data {
        manifest,
        train,
        test,
        splits,
        groups,
        in_channels,
    })
}

/// Per-channel values of the manifest's normalisation, a single value broadcast to three.
pub(super) fn three(v: &[f32]) -> Result<[f32; 3]> {
    match v.len() {
        1 => Ok([v[0]; 3]),
        3 => Ok([v[0], v[1], v[2]]),
        n => Err(Error::Data(lt_data::Error::invalid(format!(
            "dataset normalisation has {n} channels; 1 or 3 supported"
        )))),
    }
}

/// The whole augmentation the manifest names, normalised on the host.
pub(super) fn augment(m: &Manifest, train: bool) -> Result<Augment> {
    let (mean, std) = (three(&m.mean)?, three(&m.std)?);
    Ok(match m.augment {
        Pipeline::Cifar => Augment::cifar(train, mean, std),
        Pipeline::ImageNet => {
            let mut a = Augment::imagenet(train);
            a.output = lt_data::augment::Output::Normalized { mean, std };
            a
        }
    })
}

/// The host's share of the augmentation when the device finishes the batch: uint8 images, and
/// for CIFAR-style data not even the crop and flip (the device draws the same ones).
pub(super) fn host_part(full: &Augment) -> Augment {
    let mut a = full.clone().uint8();
    if let AugKind::Cifar { .. } = a.kind {
        a.kind = AugKind::Cifar { pad: 0 };
        a.train = false;
    }
    a
}

/// A loader over `reader`: the whole augmentation on the host, or its host part when `finish`
/// is done on the device.
pub(super) fn loader(
    reader: &Arc<Reader>,
    sampler: Box<dyn Sampler>,
    full: Augment,
    finish: &Finish,
    (batch_size, seed, threads): (usize, u64, usize),
    alloc: Arc<dyn Allocator>,
) -> Result<Loader> {
    let aug = match finish {
        Finish::Host => full,
        Finish::Device(_) => host_part(&full),
    };
    let lcfg = LoaderConfig {
        batch_size,
        threads,
        prefetch: 4,
        drop_last: false,
        aug,
        seed,
    };
    Ok(Loader::new(reader.clone(), sampler, lcfg, alloc)?)
}

/// Loader worker threads: the configured number, or one per core.
pub(super) fn loader_threads(cfg: &Config) -> usize {
    match cfg.loader_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Visits fixed indices in order (evaluation shards, feature extraction).
pub(super) struct Indices(pub Vec<u32>);
impl Sampler for Indices {
    fn epoch_indices(&mut self, _: u64) -> lt_data::Result<Vec<u32>> {
        Ok(self.0.clone())
    }
    fn name(&self) -> &str {
        "sequential"
    }
}

/// A plugin sampler behind the loader's trait; its error is the epoch's error.
struct FromPlugin(PluginSampler);
impl Sampler for FromPlugin {
    fn epoch_indices(&mut self, epoch: u64) -> lt_data::Result<Vec<u32>> {
        self.0
            .epoch_indices(epoch as u32)
            .map_err(|e| lt_data::Error::Sampler(Box::new(e)))
    }
    fn name(&self) -> &str {
        "plugin"
    }
}

/// Caps an epoch at `len` samples (fixed steps per epoch, as class-aware samplers use).
struct Truncated {
    inner: Box<dyn Sampler>,
    len: usize,
}
impl Sampler for Truncated {
    fn epoch_indices(&mut self, epoch: u64) -> lt_data::Result<Vec<u32>> {
        let mut v = self.inner.epoch_indices(epoch)?;
        if v.is_empty() {
            return Ok(v);
        }
        let base = v.len();
        while v.len() < self.len {
            v.push(v[v.len() % base]);
        }
        v.truncate(self.len);
        Ok(v)
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// Which of a stage's samplers: the first (`sampler`; built twice, it gives the same indices,
/// which a second view of the same images relies on), or the second (`sampler2`, its own seed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Which {
    First,
    Second,
}

/// A stage's training sampler: built-in or a plugin's, capped at `steps_per_epoch` batches,
/// sharded over the ranks.
pub(super) fn stage_sampler(
    (stage, sc, which): (u32, &StageConfig, Which),
    cfg: &Config,
    data: &Data,
    plugins: &Plugins,
    info: &DatasetInfo,
    pg: Option<&ProcessGroup>,
) -> Result<Box<dyn Sampler>> {
    let labels = data.train.labels();
    let (name, config, seed) = match which {
        Which::First => (&sc.sampler, &sc.sampler_config, cfg.seed ^ stage as u64),
        Which::Second => (
            &sc.sampler2,
            &sc.sampler2_config,
            cfg.seed ^ stage as u64 ^ (1 << 40),
        ),
    };
    let mut samp: Box<dyn Sampler> = if sampler::NAMES.contains(&name.as_str()) {
        sampler::by_name(
            name,
            labels,
            data.manifest.num_classes,
            seed,
            sc.epochs as u64,
        )?
    } else {
        Box::new(FromPlugin(plugins.sampler(
            stage,
            (name, config),
            info,
            labels,
        )?))
    };
    if sc.steps_per_epoch > 0 {
        samp = Box::new(Truncated {
            inner: samp,
            len: sc.steps_per_epoch * sc.batch_size * pg.map_or(1, |p| p.world_size()),
        });
    }
    if let Some(pg) = pg {
        samp = Box::new(sampler::Distributed::new(samp, pg.rank(), pg.world_size())?);
    }
    Ok(samp)
}

/// Refuses a stage whose batch is larger than the training split: such a batch could only be
/// padded by repetition, and the loader would allocate it whole.
pub(super) fn check_batch_sizes(cfg: &Config, train_images: usize) -> Result<()> {
    let stages =
        std::iter::once(("stage1", &cfg.stage1)).chain(cfg.stage2.iter().map(|s| ("stage2", s)));
    for (name, sc) in stages {
        if sc.batch_size > train_images {
            return Err(Error::Config(format!(
                "{name}.batch_size: {} exceeds the {train_images} training images of {}",
                sc.batch_size,
                cfg.dataset.display()
            )));
        }
    }
    Ok(())
}
