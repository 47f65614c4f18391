//! Evaluation of the current model, and eval-mode features of a split (NCM means, stage-2
//! fits). Batches take the same way to the device as in training (`batches`), with the eval
//! augmentation.

use super::adapt::{self, AdaptInput};
use super::batches::Transfer;
use super::components::LossFn;
use super::data::{self, Data, Indices};
use super::device_aug::Finish;
use super::net::{sorted_variables, Model};
use super::progress;
use crate::config::Config;
use crate::dist::ProcessGroup;
use crate::metrics::{self, Evaluator, Metrics};
use crate::Result;
use lt_data::format::Reader;
use lt_data::loader::Loader;
use lt_data::manifest::Manifest;
use std::sync::Arc;
use tch::{Device, Tensor};

/// Images per evaluation batch.
pub(super) const EVAL_BATCH: usize = 256;

/// How evaluation batches are loaded and moved.
pub(super) struct EvalInput {
    transfer: Transfer,
    full: lt_data::augment::Augment,
    threads: usize,
    /// Whether `evaluate` shows a progress bar (not with --quiet, nor on non-main ranks).
    bar: bool,
    /// How a model plugin adapts to a split before its final evaluation.
    adapt: AdaptInput,
}

impl EvalInput {
    pub fn new(m: &Manifest, cfg: &Config, device: Device, bar: bool) -> Result<Self> {
        let full = data::augment(m, false)?;
        Ok(EvalInput {
            transfer: Transfer {
                device,
                finish: Finish::choose(cfg.augment_on_device, device, m, &full)?,
                batch_size: EVAL_BATCH,
                seed: cfg.seed,
            },
            full,
            threads: data::loader_threads(cfg),
            bar,
            adapt: AdaptInput::new(m, cfg, device)?,
        })
    }

    fn loader(&self, reader: &Arc<Reader>, indices: Vec<u32>) -> Result<Loader> {
        data::loader(
            reader,
            Box::new(Indices(indices)),
            self.full.clone(),
            &self.transfer.finish,
            (EVAL_BATCH, self.transfer.seed, self.threads),
            self.transfer.allocator(),
        )
    }
}

/// Evaluation-split metrics of the current model during training: a model plugin that adapts
/// at test time is evaluated with its aggregation reset, not adapted (see [`evaluate_split`]).
pub(super) fn evaluate(
    m: &mut Model,
    loss: &mut LossFn,
    data: &Data,
    input: &EvalInput,
    pg: Option<&ProcessGroup>,
) -> Result<Metrics> {
    evaluate_split(m, loss, (data, &data.test), input, pg, false)
}

/// Metrics of the current model on `reader` (a split of `data`'s dataset; BN in eval mode, no
/// gradients), after the model plugin's test-time adaptation on its images when `adapt`. With
/// a process group each rank evaluates every world-th image and the per-image outcomes are
/// summed across ranks, so the metrics cover the whole split on every rank.
pub(super) fn evaluate_split(
    m: &mut Model,
    loss: &mut LossFn,
    (data, reader): (&Data, &Arc<Reader>),
    input: &EvalInput,
    pg: Option<&ProcessGroup>,
    adapt: bool,
) -> Result<Metrics> {
    adapt::prepare(m, reader, &input.adapt, adapt)?;
    let n = reader.len();
    let (rank, world) = pg.map_or((0, 1), |p| (p.rank(), p.world_size()));
    if let Some(pg) = pg {
        // Evaluate rank 0's batch-norm statistics everywhere, as DDP's buffer broadcast does.
        let mut vars = sorted_variables(&m.vs);
        tch::no_grad(|| pg.broadcast(&mut vars, 0))?;
    }
    let shard: Vec<u32> = (rank..n).step_by(world).map(|i| i as u32).collect();
    let mut loader = input.loader(reader, shard.clone())?;
    let mut ev = Evaluator::new(data.manifest.num_classes);
    let batches = shard.len().div_ceil(EVAL_BATCH) as u64;
    let bar = progress::bar(batches, input.bar, "eval".into());
    let mut used = UsedBranches::default();
    for b in input.transfer.epoch(loader.epoch(0)?, 0) {
        let b = b?;
        let (logits, u) = m.eval_logits_used(&b.x)?;
        used.add(u.as_ref())?;
        ev.add_logits(&loss.adjust(logits)?, &b.y)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut metrics = match pg {
        None => ev.finish(Some(&data.groups))?,
        Some(pg) => gather_outcomes(&ev, &shard, n, data, pg)?,
    };
    metrics.branches_per_image = used.mean(pg)?;
    Ok(metrics)
}

/// The branch counts a routing model plugin reported over a split, summed on the device.
#[derive(Default)]
struct UsedBranches(Option<Tensor>);

impl UsedBranches {
    fn add(&mut self, used: Option<&Tensor>) -> Result<()> {
        if let Some(u) = used {
            let sum_count = Tensor::f_stack(
                &[
                    u.f_sum(tch::Kind::Double)?,
                    Tensor::from(u.size()[0] as f64).to_device(u.device()),
                ],
                0,
            )?;
            self.0 = Some(match self.0.take() {
                Some(acc) => acc.f_add(&sum_count)?,
                None => sum_count,
            });
        }
        Ok(())
    }

    /// The mean over the whole split (all ranks); `None` when the model reported no counts.
    /// Every rank runs the same model, so all report or none do.
    fn mean(self, pg: Option<&ProcessGroup>) -> Result<Option<f64>> {
        let Some(acc) = self.0 else {
            return Ok(None);
        };
        let mut t = [acc];
        if let Some(pg) = pg {
            pg.all_reduce_sum(&mut t)?;
        }
        let v = Vec::<f64>::try_from(t[0].to_device(Device::Cpu))?;
        Ok(Some(v[0] / v[1].max(1.0)))
    }
}

/// The outcomes of all ranks, each at its image's position, summed into one table.
fn gather_outcomes(
    ev: &Evaluator,
    shard: &[u32],
    n: usize,
    data: &Data,
    pg: &ProcessGroup,
) -> Result<Metrics> {
    let mut table = vec![0f64; n * 5];
    for (s, &i) in ev.samples().iter().zip(shard) {
        let row = &mut table[i as usize * 5..i as usize * 5 + 5];
        row.copy_from_slice(&[
            s.label as f64,
            s.pred as f64,
            s.top5 as u8 as f64,
            s.confidence,
            s.nll,
        ]);
    }
    let mut t = [Tensor::from_slice(&table)];
    pg.all_reduce_sum(&mut t)?;
    let table = Vec::<f64>::try_from(&t[0])?;
    let samples: Vec<metrics::Sample> = table
        .chunks(5)
        .map(|r| metrics::Sample {
            label: r[0] as i64,
            pred: r[1] as i64,
            top5: r[2] > 0.5,
            confidence: r[3],
            nll: r[4],
        })
        .collect();
    Metrics::compute(&samples, data.manifest.num_classes, Some(&data.groups))
}

/// Eval-mode features and labels of a whole split.
pub(super) fn features(
    m: &mut Model,
    reader: &Arc<Reader>,
    input: &EvalInput,
) -> Result<(Tensor, Tensor)> {
    let mut loader = input.loader(reader, (0..reader.len() as u32).collect())?;
    let (mut fs, mut ys) = (Vec::new(), Vec::new());
    for b in input.transfer.epoch(loader.epoch(0)?, 0) {
        let b = b?;
        fs.push(m.eval_features(&b.x)?);
        ys.push(b.y);
    }
    Ok((Tensor::cat(&fs, 0), Tensor::cat(&ys, 0)))
}
