//! `lt-train`: train and calibrate long-tailed classifiers; methods come as plugins.
//! Flags only; the work is in `lt_core`.

#[path = "../../common/cli.rs"]
mod cli;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lt_core::config::{Builder, Config};
use lt_core::model::Arch;
use lt_core::plugin::PluginSearch;
use lt_core::train::{self, RunOptions};
use std::path::PathBuf;

mod eval;
mod export;
mod predict;
mod seeds;

#[derive(Parser)]
#[command(
    name = "lt-train",
    version,
    about = "Long-tailed training with plugin methods",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the plugins found on the search path, one a line, starting with the name.
    Plugins,
    /// Print what this binary has and sees (versions, CUDA, cuDNN, NCCL, Gloo, threads,
    /// plugins), one `key: value` a line, for bug reports.
    Env,
    /// Evaluate a checkpoint on its dataset's evaluation split: the run's one-line summary,
    /// optionally the metrics as JSON.
    Eval(eval::EvalArgs),
    /// Classify image files (or directories of them) with a checkpoint; CSV of the top
    /// classes and their probabilities.
    Predict(predict::PredictArgs),
    /// Write a run's checkpoint as torchvision-named safetensors, lt-train safetensors or
    /// TorchScript.
    Export(export::ExportArgs),
    /// Time one training step; the last line is `step ms N` (median).
    Bench {
        /// Backbone to time (on random images of its input size).
        #[arg(long, default_value = "resnet32", value_parser = arch_parser(), ignore_case = true)]
        model: Arch,
        /// Images per step.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// libtorch threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Timed steps after the warm-up.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Convolution weights and input in channels-last memory format.
        #[arg(long)]
        channels_last: bool,
    },
    /// Print the shell completion script (e.g. `lt-train completions zsh > ~/.zfunc/_lt-train`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Dataset directory built by `lt-data build`.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Run directory (config.toml, metrics.csv, metrics.jsonl, metrics.json, reliability.png,
    /// per_class.png, checkpoints/);
    /// missing or empty unless --resume.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Plugin to load (name, or path to the library); its recipe sets the method's stages.
    #[arg(long = "plugin")]
    plugins: Vec<String>,
    /// Stage-1 epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Stage-2 epochs (0 removes stage 2).
    #[arg(long)]
    stage2_epochs: Option<usize>,
    /// A TOML configuration file, layered over the plugin recipe.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override any key: `--set stage1.lr=0.05` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Backbone (default: the dataset's recipe, e.g. resnet32 for CIFAR-LT).
    #[arg(long, value_parser = arch_parser(), ignore_case = true)]
    model: Option<Arch>,
    /// Seed of initialisation, sampling and augmentation.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Train once per seed (`0,1,2`, `0-4`), each run in OUT/seed-S, then write
    /// OUT/summary.json and OUT/summary.md (mean, sample std, min, max, n of every metric);
    /// re-running skips complete seeds and resumes interrupted ones. `{seed}` in
    /// init_checkpoint (or init_backbone) becomes each run's seed: a stage 2 per stage-1 seed.
    #[arg(long, value_name = "SEEDS", conflicts_with = "print_config")]
    seeds: Option<lt_core::sweep::Seeds>,
    /// With --seeds: seeds trained at the same time, each a child process with a share of
    /// --threads and loader_threads (on CUDA they share the device).
    #[arg(long, value_name = "N", requires = "seeds")]
    jobs: Option<std::num::NonZeroUsize>,
    /// The seed a --seeds child process trains (set by the sweep).
    #[arg(long, hide = true, requires = "seeds")]
    sweep_seed: Option<u64>,
    /// Relative accuracy (100 top-1 / A_u) against the best top-1 of these runs or --seeds
    /// directories (A_u: vanilla CE and this method trained on `lt-data build --profile
    /// balanced`); sets upper_from.
    #[arg(long, value_name = "RUN,...", value_delimiter = ',')]
    upper_from: Vec<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// libtorch threads (0: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Evaluate on the test split every N epochs (and after the last).
    #[arg(long, value_name = "N")]
    eval_every: Option<usize>,
    /// Seconds to wait for distributed peers (rendezvous and collectives); default
    /// LT_DIST_TIMEOUT or 300.
    #[arg(long)]
    dist_timeout: Option<u64>,
    /// Load the configuration's plugins and build its losses, heads and samplers, then exit.
    #[arg(long)]
    check: bool,
    /// Print the resolved configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// Continue the run in --out from its last checkpoint, with the configuration it was made
    /// with (threads, loader_threads, device, dist_timeout, eval_every may change); a missing
    /// or empty --out starts a fresh run.
    #[arg(long)]
    resume: bool,
    /// No progress bars (cluster logs).
    #[arg(long, short)]
    quiet: bool,
    /// A safetensors state dict (torchvision, MiSLAS CIFAR or lt-train names) to start a
    /// fresh run's model from; the head loads only when its shape fits.
    #[arg(long, value_name = "FILE")]
    init_backbone: Option<PathBuf>,
    /// Stop with an error after N epochs, as a kill would (tests of --resume).
    #[arg(long, value_name = "N", hide = true)]
    stop_after: Option<usize>,
}

fn main() {
    // Keep the memory libtorch frees between steps (see lt_core::malloc).
    lt_core::malloc::tune();
    let cli = Cli::try_parse().unwrap_or_else(|e| match e.use_stderr() {
        true => lt_data::error::usage_exit("lt-train", &e.to_string()),
        false => e.exit(),
    });
    if let Err(e) = run(cli) {
        eprintln!("lt-train: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, `outer: inner: ...`. A cause whose message its
/// parent already ends with is left out: an error type that both prints its source and returns
/// it from `source()` (an I/O error wrapped with its path) would show the OS message twice.
fn one_line(e: &anyhow::Error) -> String {
    let mut s = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if s.ends_with(c.as_str()) {
            continue;
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&c);
    }
    s.replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Some(Cmd::Plugins) => {
            let found = PluginSearch::from_env().discover();
            for p in &found.plugins {
                println!("{p}");
            }
            // One line per bad file, naming it and the problem; the good ones are listed above.
            for err in &found.problems {
                eprintln!("lt-train: skipped {}", err.to_string().replace('\n', " "));
            }
            Ok(())
        }
        Some(Cmd::Env) => {
            print!("{}", lt_core::env::Env::collect());
            Ok(())
        }
        Some(Cmd::Bench {
            model,
            batch,
            threads,
            steps,
            channels_last,
        }) => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let r = lt_core::bench::step_bench_with(&lt_core::bench::BenchOptions {
                model,
                batch,
                threads,
                steps,
                channels_last,
            })?;
            println!("{}", r.summary_line());
            Ok(())
        }
        Some(Cmd::Completions { shell }) => {
            cli::print_completions::<Cli>(shell, "lt-train");
            Ok(())
        }
        Some(Cmd::Eval(a)) => eval::run(a),
        Some(Cmd::Predict(a)) => predict::run(a),
        Some(Cmd::Export(a)) => export::run(a),
        None => train_cmd(cli.train),
    }
}

/// `--model`: the names of the architecture registry, parsed into an [`Arch`].
fn arch_parser() -> impl clap::builder::TypedValueParser<Value = Arch> {
    cli::one_of::<Arch>(Arch::all().map(Arch::name))
}

/// Resolves the configuration, then prints it, checks it, trains, or runs a --seeds sweep
/// (whose child processes train one seed each).
fn train_cmd(a: TrainArgs) -> Result<()> {
    if a.seeds.is_some() && a.sweep_seed.is_none() && !a.check {
        return seeds::run(&a);
    }
    let mut cfg = resolve_config(&a)?;
    if let Some(seed) = a.sweep_seed {
        cfg = lt_core::sweep::seed_config(&cfg, seed, seeds::jobs(&a));
    }
    if a.print_config {
        print!("{}", cfg.to_toml());
        return Ok(());
    }
    if a.check {
        train::check(&cfg)?;
        println!("ok: plugins load and every stage's components accept their configs");
        return Ok(());
    }
    let summary = train::run(
        &cfg,
        &RunOptions {
            resume: a.resume || a.sweep_seed.is_some(),
            quiet: a.quiet,
            stop_after_epochs: a.stop_after,
        },
    )?;
    print_summary(&summary);
    Ok(())
}

/// The layers in order: plugin recipes, the --config file, the flags, then each --set.
pub(crate) fn resolve_config(a: &TrainArgs) -> Result<Config> {
    let mut b = Builder::default();
    let search = PluginSearch::from_env();
    for spec in &a.plugins {
        let p = search.load(spec)?;
        if let Some(recipe) = p.recipe() {
            b.layer(recipe, &format!("recipe of plugin {}", p.info().name))?;
        }
    }
    b.set(&format!("plugins={}", toml_list(&a.plugins)))?;
    if let Some(f) = &a.config {
        let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
        b.layer(&text, &f.display().to_string())?;
    }
    set_flags(&mut b, a)?;
    for s in &a.sets {
        b.set(s)?;
    }
    Ok(b.build()?)
}

/// The dedicated flags as `--set` assignments (`--stage2-epochs 0` removes stage 2).
fn set_flags(b: &mut Builder, a: &TrainArgs) -> Result<()> {
    let quote = |s: String| toml::Value::String(s).to_string();
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| quote(p.display().to_string()));
    let number = |n: Option<usize>| n.map(|n| n.to_string());
    set_some(b, "dataset", path(&a.dataset))?;
    set_some(b, "out", path(&a.out))?;
    set_some(b, "init_backbone", path(&a.init_backbone))?;
    set_some(b, "stage1.epochs", number(a.epochs))?;
    match a.stage2_epochs {
        Some(0) => {
            b.without_stage2();
        }
        n => set_some(b, "stage2.epochs", number(n))?,
    }
    set_some(b, "model", a.model.map(|m| quote(m.name().to_string())))?;
    set_some(b, "seed", a.seed.map(|s| s.to_string()))?;
    set_some(b, "device", a.device.clone().map(quote))?;
    set_some(b, "threads", number(a.threads))?;
    set_some(b, "eval_every", number(a.eval_every))?;
    set_some(b, "dist_timeout", a.dist_timeout.map(|t| t.to_string()))?;
    let runs = a.upper_from.iter().map(|p| p.display().to_string());
    let upper = (!a.upper_from.is_empty()).then(|| toml_list(&runs.collect::<Vec<_>>()));
    set_some(b, "upper_from", upper)
}

/// `b.set("key=value")` when a value is given.
fn set_some(b: &mut Builder, key: &str, value: Option<String>) -> Result<()> {
    if let Some(v) = value {
        b.set(&format!("{key}={v}"))?;
    }
    Ok(())
}

/// The final metrics on one line, then where they were written.
fn print_summary(summary: &train::Summary) {
    println!("{}", summary.metrics.summary_line());
    if let Some(r) = summary.relative_accuracy {
        println!("relative accuracy {r:.2}");
    }
    let dir = &summary.run_dir;
    println!(
        "wrote {}, {} and {}",
        dir.join("metrics.json").display(),
        dir.join("reliability.png").display(),
        dir.join("per_class.png").display()
    );
}

fn toml_list(v: &[String]) -> String {
    toml::Value::Array(v.iter().map(|s| toml::Value::String(s.clone())).collect()).to_string()
}
