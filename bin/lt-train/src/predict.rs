//! `lt-train predict`: the most probable classes of image files under a checkpoint's model, as
//! CSV (the work is in `lt_core::infer`).

use super::eval::ModelArgs;
use anyhow::Result;
use clap::Args;
use lt_core::infer::{self, Request};
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Classes listed per image, most probable first (default 5, or all when fewer).
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// Add one column per class with the raw logits (`logit_<class>`).
    #[arg(long)]
    logits: bool,
    /// Write the CSV to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE.csv")]
    out: Option<PathBuf>,
    /// Image files (JPEG, PNG) or directories, walked for image files in path order.
    #[arg(required = true, value_name = "IMAGES|DIR")]
    inputs: Vec<PathBuf>,
}

/// Predicts every image, then writes the whole CSV.
pub fn run(a: PredictArgs) -> Result<()> {
    let mut t = a.model.load(None)?;
    let req = Request {
        inputs: a.inputs,
        top_k: a.top_k,
        logits: a.logits,
    };
    let text = infer::predict_csv(&mut t, &req)?;
    match &a.out {
        Some(path) => infer::csv::write(path, &text)?,
        None => print!("{text}"),
    }
    Ok(())
}
