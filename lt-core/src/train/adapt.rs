//! Test-time adaptation of a model plugin (SADE's self-supervised aggregation): before a split
//! is evaluated, the model sees each batch of its unlabelled images as two augmented views (the
//! training augmentation: random crop and flip, two seeds), as each branch's eval-mode logits,
//! for as many passes as it asks. Every rank adapts on the whole split in the same order, so the
//! adapted tensors agree without communication.

use super::batches::Transfer;
use super::data::{self, Indices};
use super::device_aug::Finish;
use super::net::Model;
use crate::config::Config;
use crate::Result;
use lt_data::augment::Augment;
use lt_data::format::Reader;
use lt_data::loader::Loader;
use lt_data::manifest::Manifest;
use lt_data::rng::streams;
use std::sync::Arc;
use tch::Device;

/// How adaptation batches are drawn: the training augmentation, the stage-1 batch size.
pub(super) struct AdaptInput {
    full: Augment,
    manifest: Manifest,
    setting: crate::config::AugmentOnDevice,
    device: Device,
    batch_size: usize,
    threads: usize,
    seed: u64,
}

impl AdaptInput {
    pub fn new(m: &Manifest, cfg: &Config, device: Device) -> Result<Self> {
        Ok(AdaptInput {
            full: data::augment(m, true)?,
            manifest: m.clone(),
            setting: cfg.augment_on_device,
            device,
            batch_size: cfg.stage1.batch_size,
            threads: data::loader_threads(cfg),
            seed: cfg.seed,
        })
    }

    /// One view's loader over `order` with augmentation seed `seed`.
    fn view(&self, reader: &Arc<Reader>, order: Vec<u32>, seed: u64) -> Result<(Loader, Transfer)> {
        let transfer = Transfer {
            device: self.device,
            finish: Finish::choose(self.setting, self.device, &self.manifest, &self.full)?,
            batch_size: self.batch_size,
            seed,
        };
        let loader = data::loader(
            reader,
            Box::new(Indices(order)),
            self.full.clone(),
            &transfer.finish,
            (self.batch_size, seed, self.threads),
            transfer.allocator(),
        )?;
        Ok((loader, transfer))
    }
}

/// Restarts the model's adaptation and, with `adapt`, runs it on `reader`'s images. A model
/// that does not adapt is left alone.
pub(super) fn prepare(
    m: &mut Model,
    reader: &Arc<Reader>,
    input: &AdaptInput,
    adapt: bool,
) -> Result<()> {
    let Some(epochs) = m
        .model_plugin
        .as_mut()
        .map(|p| p.adapt_epochs())
        .filter(|&e| e > 0)
    else {
        return Ok(());
    };
    if let Some(p) = m.model_plugin.as_mut() {
        p.adapt_begin()?;
    }
    if !adapt {
        return Ok(());
    }
    for epoch in 0..epochs as u64 {
        let mut order: Vec<u32> = (0..reader.len() as u32).collect();
        streams::sampler_epoch(input.seed ^ 0xada9, epoch).shuffle(&mut order);
        let (mut l1, t1) = input.view(reader, order.clone(), input.seed ^ 0xada1 ^ (epoch << 8))?;
        let (mut l2, t2) = input.view(reader, order, input.seed ^ 0xada2 ^ (epoch << 8))?;
        let views = t1
            .epoch(l1.epoch(epoch)?, epoch)
            .zip(t2.epoch(l2.epoch(epoch)?, epoch));
        for (b1, b2) in views {
            let (v1, v2) = (m.eval_experts(&b1?.x)?, m.eval_experts(&b2?.x)?);
            if let Some(p) = m.model_plugin.as_mut() {
                p.adapt(&v1, &v2)?;
            }
        }
    }
    Ok(())
}
