//! `lt-train --seeds 0,1,2 [--jobs N] ...`: one run per seed by child processes of this binary
//! (the same arguments plus the hidden `--sweep-seed S`), then the summary (the work is in
//! `lt_core::sweep`).

use crate::TrainArgs;
use anyhow::Result;
use lt_core::sweep::{self, Sweep};
use std::ffi::OsString;
use std::process::Command;

/// Seeds trained at the same time (`--jobs`, default 1).
pub fn jobs(a: &TrainArgs) -> usize {
    a.jobs.map_or(1, |n| n.get())
}

/// Runs the sweep; prints the summary line and where the summary went.
pub fn run(a: &TrainArgs) -> Result<()> {
    let cfg = crate::resolve_config(a)?;
    let seeds = a.seeds.clone().map(|s| s.0).unwrap_or_default();
    let exe = std::env::current_exe()?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let sweep = Sweep {
        out: cfg.out.clone(),
        seeds,
        jobs: jobs(a),
        program: "lt-train".into(),
    };
    let child = |seed: u64| {
        let mut c = Command::new(&exe);
        c.args(&args).arg(format!("--sweep-seed={seed}"));
        c
    };
    let done = sweep.run(&cfg, child)?;
    println!("{}", done.summary.line());
    println!(
        "wrote {} and {}",
        cfg.out.join(sweep::SUMMARY_JSON).display(),
        cfg.out.join(sweep::SUMMARY_MD).display()
    );
    Ok(())
}
