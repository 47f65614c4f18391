//! `lt-train eval`: a checkpoint's metrics on its dataset's evaluation split (the work is in
//! `lt_core::train::Restore` and `lt_core::infer`).

use anyhow::Result;
use clap::Args;
use lt_core::train::{Restore, Trained};
use std::path::PathBuf;

/// The model to use: a checkpoint, and what to read and run it on.
#[derive(Args)]
pub struct ModelArgs {
    /// A checkpoint written by a run: RUN/checkpoints/stage{1,2}-{last,best,final}.safetensors.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset directory; the run's own by default.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N; the run's by default.
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (0: all cores); the run's by default (its numbers need the same).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    /// Rebuilds the checkpoint's model, evaluating `split` (the run's when `None`).
    pub fn load(&self, split: Option<String>) -> Result<Trained> {
        Ok(Restore {
            checkpoint: self.checkpoint.clone(),
            dataset: self.dataset.clone(),
            split,
            device: self.device.clone(),
            threads: self.threads,
        }
        .load()?)
    }
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The split to evaluate: test, val, or a shifted test split written by `lt-data build
    /// --test-splits` (test-fwd-50, test-bwd-10, ...); the run's `eval_split` by default.
    #[arg(long)]
    split: Option<String>,
    /// With a model plugin that adapts at test time (SADE): evaluate its default aggregation,
    /// without adapting to the split.
    #[arg(long)]
    no_adapt: bool,
    /// Also write the metrics (every field of metrics.json) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also draw the run's charts of these metrics (reliability.png, per_class.png) into DIR.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Report relative accuracy against the best top-1 of these runs (or --seeds directories);
    /// the run's own upper_from / upper_top1 by default. Test split only.
    #[arg(long, value_name = "RUN,...", value_delimiter = ',')]
    upper_from: Vec<PathBuf>,
}

/// Prints the summary line a run ends with (then relative accuracy, with an upper reference on
/// the test split); writes the JSON when asked.
pub fn run(a: EvalArgs) -> Result<()> {
    let mut t = a.model.load(a.split)?;
    let upper = lt_core::infer::eval::upper_reference(&t, &a.upper_from)?;
    let metrics = t.evaluate_adapted(!a.no_adapt)?;
    println!("{}", metrics.summary_line());
    if let Some(u) = &upper {
        println!("{}", u.line(metrics.top1));
    }
    if let Some(path) = &a.json {
        let m = (&metrics, upper.as_ref());
        lt_core::infer::eval::write_json(path, m, &t, &a.model.checkpoint)?;
        println!("wrote {}", path.display());
    }
    if let Some(dir) = &a.plots {
        lt_core::infer::eval::write_plots(dir, &metrics, &t)?;
        println!("wrote {}", dir.display());
    }
    Ok(())
}
