//! A stage's second input: `sampler2`'s batch for a two-branch model (BBN), or a second
//! augmented view of each image for a loss that asks for one (contrastive losses). Both come
//! from a second loader running beside the first: for a view, over the same sampler (built
//! again, it gives the same indices) with another augmentation seed. Also the checks that a
//! stage's loss, model and samplers fit together, so a mismatch is a one-line config error.

use super::batches::{DeviceBatch, Prefetch, Transfer};
use super::components::LossFn;
use super::data::{self, Which};
use super::device_aug::Finish;
use super::forward::Second;
use super::stage::Env;
use crate::config::StageConfig;
use crate::plugin::{DatasetInfo, PluginModel};
use crate::{Error, Result};
use lt_data::loader::Loader;

/// The second loader of a stage and how its batches reach the device.
pub(super) struct SecondInput {
    pub kind: Second,
    pub loader: Loader,
    pub transfer: Transfer,
}

/// What the stage's second input is for, if it has one; an error when the loss, the model and
/// the samplers do not fit together.
/// `model`: the run's model plugin, if it has one.
pub(super) fn plan(
    num: u32,
    sc: &StageConfig,
    loss: &LossFn,
    model: Option<&PluginModel>,
) -> Result<Option<Second>> {
    let needs = loss.needs();
    let branches = model.map(|m| m.branches());
    let labels = model.is_some_and(|m| m.trains_on_labels());
    let bad = |msg: String| Err(Error::Config(format!("stage {num}: {msg}")));
    if matches!(loss, LossFn::None) && !labels {
        return bad(
            "loss = \"none\" trains only a model plugin's own loss term; this run's model has none"
                .into(),
        );
    }
    if labels && sc.mixup_alpha > 0.0 {
        return bad(format!(
            "model '{}' trains on each image's label, which mixup blends: set mixup_alpha = 0",
            model.map_or("", |m| m.name())
        ));
    }
    if needs.experts && branches.is_none() {
        return bad(format!(
            "loss '{}' needs each expert's logits: set model_plugin",
            sc.loss
        ));
    }
    if (needs.features || needs.two_views) && branches.is_some() {
        return bad(format!(
            "loss '{}' needs the backbone's features, which a model plugin's branches do not give",
            sc.loss
        ));
    }
    if needs.head_weight && (branches.is_some() || sc.head != "linear") {
        return bad(format!(
            "loss '{}' needs the built-in linear head's weight",
            sc.loss
        ));
    }
    if branches.is_some() && sc.head != "linear" {
        return bad(format!(
            "head '{}' and model_plugin: the model plugin has its own classifiers",
            sc.head
        ));
    }
    if needs.second_batch && sc.sampler2.is_empty() {
        return bad(format!(
            "loss '{}' needs a second batch: set stage{num}.sampler2",
            sc.loss
        ));
    }
    if !sc.sampler2.is_empty() && branches != Some(2) {
        return bad(format!(
            "sampler2 feeds branch 1 of a two-branch model plugin; this run has {}",
            branches.map_or("no model plugin".to_string(), |b| format!("{b} branch(es)"))
        ));
    }
    let second = match (!sc.sampler2.is_empty(), needs.two_views) {
        (true, true) => return bad("a second batch (sampler2) and a second view: give one".into()),
        (true, false) => Some(Second::Batch),
        (false, true) => Some(Second::View),
        (false, false) => None,
    };
    if second.is_some() && sc.mixup_alpha > 0.0 {
        return bad("mixup with a second batch or view: set mixup_alpha = 0".into());
    }
    Ok(second)
}

/// The second loader for `kind`: its own sampler (the first one again for a view) and its own
/// augmentation seed.
pub(super) fn build(
    (num, sc, kind): (u32, &StageConfig, Second),
    env: &Env,
    info: &DatasetInfo,
    first: &Transfer,
) -> Result<SecondInput> {
    let which = match kind {
        Second::Batch => Which::Second,
        Second::View => Which::First,
    };
    let sampler = data::stage_sampler(
        (num, sc, which),
        env.cfg,
        env.data,
        env.plugins,
        info,
        env.pg,
    )?;
    let full = data::augment(&env.data.manifest, true)?;
    let transfer = Transfer {
        device: first.device,
        finish: Finish::choose(
            env.cfg.augment_on_device,
            env.device,
            &env.data.manifest,
            &full,
        )?,
        batch_size: first.batch_size,
        seed: first.seed ^ 0x5eed_0000_0002,
    };
    let loader = data::loader(
        &env.data.train,
        sampler,
        full,
        &transfer.finish,
        (sc.batch_size, transfer.seed, data::loader_threads(env.cfg)),
        transfer.allocator(),
    )?;
    Ok(SecondInput {
        kind,
        loader,
        transfer,
    })
}

/// An epoch's batches, each with its second batch or view when the stage draws them.
pub(super) struct Paired<'a> {
    first: Prefetch<'a>,
    second: Option<(Second, Prefetch<'a>)>,
}

impl Paired<'_> {
    /// How long the step loop waited for the loaders.
    pub fn waited(&self) -> std::time::Duration {
        self.first.waited()
            + self
                .second
                .as_ref()
                .map_or(Default::default(), |s| s.1.waited())
    }
}

impl Iterator for Paired<'_> {
    type Item = Result<(DeviceBatch, Option<(DeviceBatch, Second)>)>;
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.first.next()?;
        let b2 = match &mut self.second {
            Some((kind, it)) => Some((it.next()?, *kind)),
            None => None,
        };
        Some(b.and_then(|b| match b2 {
            Some((b2, kind)) => Ok((b, Some((b2?, kind)))),
            None => Ok((b, None)),
        }))
    }
}

/// Starts epoch `epoch` of the stage's loader (and its second loader): the paired batches and
/// how many pairs there are (the shorter loader's batches).
pub(super) fn epoch_batches<'a>(
    (loader, transfer): (&mut Loader, &'a Transfer),
    second: Option<&'a mut SecondInput>,
    sc: &StageConfig,
    epoch: usize,
) -> Result<(Paired<'a>, usize)> {
    let none = |name: &str| {
        let name = name.to_string();
        move |e| Error::Training(format!("the {name} sampler gave no samples: {e}"))
    };
    let it = loader.epoch(epoch as u64).map_err(none(&sc.sampler))?;
    let mut n = it.num_batches();
    let first = transfer.epoch(it, epoch as u64);
    let second = match second {
        Some(s) => {
            let it2 = s.loader.epoch(epoch as u64).map_err(none(&sc.sampler2))?;
            n = n.min(it2.num_batches());
            Some((s.kind, s.transfer.epoch(it2, epoch as u64)))
        }
        None => None,
    };
    if n == 0 {
        return Err(Error::Training(format!(
            "the {} sampler gave no samples",
            sc.sampler
        )));
    }
    Ok((Paired { first, second }, n))
}
