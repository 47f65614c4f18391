//! `lt-data`: build, inspect, verify and benchmark long-tailed datasets. Flags only; the work
//! is in the `lt_data` library.

#[path = "../../common/cli.rs"]
mod cli;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lt_data::augment::Pipeline;
use lt_data::builder::{self, BuildOptions, Store};
use lt_data::split::{Compat, Profile};
use lt_data::test_shift::{self, Direction, TestShift};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "lt-data",
    version,
    about = "Long-tailed datasets as memory-mapped files"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build a long-tailed dataset from a public raw source.
    Build(BuildArgs),
    /// Class counts, imbalance and many/medium/few sizes of a dataset or a split list.
    Inspect {
        /// Dataset directory.
        #[arg(required_unless_present = "split_file")]
        path: Option<PathBuf>,
        /// Statistics of a split list alone, without pixels.
        #[arg(long, conflicts_with = "path")]
        split_file: Option<PathBuf>,
        /// With --split-file: the number of classes (default: the largest label + 1, at most
        /// one class per entry).
        #[arg(
            long,
            value_name = "K",
            requires = "split_file",
            conflicts_with = "path",
            value_parser = clap::value_parser!(u32).range(1..=MAX_LIST_CLASSES)
        )]
        classes: Option<u32>,
        /// Print the statistics as one JSON object.
        #[arg(long)]
        json: bool,
        /// Write the sorted class-count bar chart, coloured by group.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Re-check a dataset's structure and checksums.
    Verify {
        /// Dataset directory.
        path: PathBuf,
    },
    /// Time the loader on a dataset; the last line is `images/s N`.
    Bench(BenchArgs),
    /// Print the shell completion script (e.g. `lt-data completions bash > /etc/bash_completion.d/lt-data`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

// The flags of `lt-data build` (a plain comment: a doc comment would become its help text).
#[derive(Args)]
struct BuildArgs {
    /// Recipe of the dataset (`datasets/NAME.toml`): its source format, classes and defaults.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(lt_data::recipe::names()))]
    dataset: String,
    /// Source directory (default: the recipe's, e.g. Debian's Fashion-MNIST).
    #[arg(long)]
    src: Option<PathBuf>,
    /// Output dataset directory.
    #[arg(long)]
    out: PathBuf,
    /// Imbalance factor n_max / n_min (>= 1); default: the recipe's.
    #[arg(long, value_name = "IF", allow_negative_numbers = true)]
    imbalance: Option<f64>,
    /// Seed of the selection of images within each class.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Shape of the class sizes (default: the recipe's). `balanced`: the balanced reference of
    /// the recipe's long-tailed split at --imbalance, for relative accuracy: as many images in
    /// all (N), floor(N / K) in every class, the remainder unused.
    #[arg(long, value_parser = cli::one_of::<Profile>(Profile::NAMES))]
    profile: Option<Profile>,
    /// `ldam`: select exactly the images numpy's generator selects in LDAM-DRW / MiSLAS.
    #[arg(long, value_parser = ["native", "ldam"], default_value = "native")]
    compat: String,
    /// Official training list (`path label` lines).
    #[arg(long)]
    split_file: Option<PathBuf>,
    /// Official test list (`path label` lines).
    #[arg(long)]
    test_file: Option<PathBuf>,
    /// Official validation list (`path label` lines).
    #[arg(long)]
    val_file: Option<PathBuf>,
    /// Resize image sources so that their longer side is at most this (default: the recipe's,
    /// 256 for imagenet-lt, places-lt and inat2018; none for the others).
    #[arg(long)]
    max_side: Option<u32>,
    /// How images are stored: decoded pixels or re-encoded JPEG (default: the recipe's).
    #[arg(long, value_parser = cli::one_of::<Store>(Store::NAMES))]
    store: Option<Store>,
    /// JPEG quality of --store jpeg (1-100).
    #[arg(long, default_value_t = 90)]
    quality: u8,
    /// Skip images that fail to decode (listed in the manifest) instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// Build from the listed images found when some are missing under --src (counted per split
    /// in the manifest, listed in OUT/missing.txt) instead of stopping before decoding (the
    /// stopped build lists them in OUT.missing.txt).
    #[arg(long)]
    skip_missing: bool,
    /// Refuse (or with --skip-bad, skip) source images declaring more pixels than this.
    #[arg(long, default_value_t = builder::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Replace --out even when it holds files lt-data did not write (they are deleted).
    #[arg(long)]
    force: bool,
    /// Print where the time went, per stage (read, decode, resize, encode, write): thread
    /// seconds, share, milliseconds an image (on stderr, also with --quiet).
    #[arg(long)]
    time_stages: bool,
    /// Also write long-tailed test splits carved from the balanced test split, for SADE's
    /// test-agnostic evaluation: `test-fwd-IF` (class 0 most frequent, like training) and
    /// `test-bwd-IF` (reversed) for each imbalance factor (whole numbers >= 1; without values
    /// 2,5,10,25,50). Each class's images are a choice seeded by --seed; with --compat ldam,
    /// numpy's, as SADE's code makes them.
    #[arg(
        long,
        value_name = "IF",
        num_args = 0..=1,
        value_delimiter = ',',
        default_missing_values = ["2", "5", "10", "25", "50"],
        value_parser = imbalance_factor
    )]
    test_splits: Option<Vec<u32>>,
    /// With --test-splits: which directions to write.
    #[arg(
        long,
        value_name = "DIR",
        value_delimiter = ',',
        requires = "test_splits",
        value_parser = cli::one_of::<Direction>(Direction::NAMES)
    )]
    test_directions: Option<Vec<Direction>>,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
}

// The flags of `lt-data bench`.
#[derive(Args)]
struct BenchArgs {
    /// Dataset directory.
    path: PathBuf,
    /// Training augmentation applied to every image.
    #[arg(long, default_value = "cifar", value_parser = cli::one_of::<Pipeline>(Pipeline::ALL.map(Pipeline::name)))]
    aug: Pipeline,
    /// Images per batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Epochs to time.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Also print where the workers' time went, per stage (read, decode, augment).
    #[arg(long)]
    time_stages: bool,
}

/// Most classes `inspect --split-file --classes` counts (64 MiB of counts).
const MAX_LIST_CLASSES: i64 = 1 << 24;

fn main() {
    let cli = Cli::try_parse().unwrap_or_else(|e| match e.use_stderr() {
        true => lt_data::error::usage_exit("lt-data", &e.to_string()),
        false => e.exit(),
    });
    if let Err(e) = run(cli) {
        eprintln!("lt-data: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Build(args) => build(args),
        Cmd::Inspect {
            path,
            split_file,
            classes,
            json,
            plot,
        } => match split_file {
            Some(f) => inspect_list(&f, classes, json, plot.as_deref()),
            None => {
                let dir = path.context("a dataset directory or --split-file is required")?;
                inspect_dataset(&dir, json, plot.as_deref())
            }
        },
        Cmd::Verify { path } => {
            let n = lt_data::inspect::verify(&path)?;
            println!("ok: {} ({n} samples, checksums match)", path.display());
            Ok(())
        }
        Cmd::Bench(args) => bench(args),
        Cmd::Completions { shell } => {
            cli::print_completions::<Cli>(shell, "lt-data");
            Ok(())
        }
    }
}

/// `lt-data build`: plans the build and (unless quiet) prints what the lists' lookup found,
/// builds, then prints the notes and (unless quiet) a summary.
fn build(args: BuildArgs) -> Result<()> {
    let quiet = args.quiet;
    let out = args.out.clone();
    let plan = builder::plan(&args.into_options())?;
    if let (false, Some(r)) = (quiet, plan.resolution()) {
        print!("{r}");
    }
    let built = plan.build()?;
    for note in &built.notes {
        eprintln!("lt-data: note: {note}");
    }
    for line in &built.stages {
        eprintln!("{line}");
    }
    if quiet {
        return Ok(());
    }
    let m = built.manifest;
    let t = &m.splits["train"];
    println!(
        "built {} in {}: train {} images, {} classes",
        m.dataset,
        out.display(),
        t.total,
        m.num_classes
    );
    for (name, s) in m.splits.iter().filter(|(n, _)| *n != "train") {
        println!("  {name}: {} images", s.total);
    }
    if !m.skipped.is_empty() {
        println!(
            "  skipped {} undecodable images (listed in the manifest)",
            m.skipped.len()
        );
    }
    Ok(())
}

impl BuildArgs {
    fn into_options(self) -> BuildOptions {
        BuildOptions {
            compat: if self.compat == "ldam" {
                Compat::Ldam
            } else {
                Compat::Native
            },
            progress: !self.quiet,
            src: self.src,
            imbalance: self.imbalance,
            seed: self.seed,
            profile: self.profile,
            split_file: self.split_file,
            test_file: self.test_file,
            val_file: self.val_file,
            max_side: self.max_side,
            store: self.store,
            quality: self.quality,
            skip_bad: self.skip_bad,
            skip_missing: self.skip_missing,
            max_pixels: self.max_pixels,
            force: self.force,
            time_stages: self.time_stages,
            test_shifts: test_shifts(self.test_splits, self.test_directions),
            ..BuildOptions::new(&self.dataset, &self.out)
        }
    }
}

/// `--test-splits IF,...` value by value.
fn imbalance_factor(s: &str) -> Result<u32, lt_data::Error> {
    test_shift::parse_imbalance(s)
}

/// Every (direction, imbalance) asked for, forward first; none without --test-splits.
fn test_shifts(imbalances: Option<Vec<u32>>, directions: Option<Vec<Direction>>) -> Vec<TestShift> {
    let directions = directions.unwrap_or_else(|| vec![Direction::Forward, Direction::Backward]);
    let imbalances = imbalances.unwrap_or_default();
    directions
        .iter()
        .flat_map(|&direction| {
            imbalances.iter().map(move |&imbalance| TestShift {
                direction,
                imbalance,
            })
        })
        .collect()
}

/// `lt-data bench`: times the loader; the report's last line is `images/s N`.
fn bench(args: BenchArgs) -> Result<()> {
    let all_cores = || std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = lt_data::bench::run(&lt_data::bench::BenchOptions {
        threads: args.threads.unwrap_or_else(all_cores),
        path: args.path,
        aug: args.aug.name().to_string(),
        batch: args.batch,
        epochs: args.epochs,
        time_stages: args.time_stages,
    })?;
    println!("{report}");
    Ok(())
}

/// `lt-data inspect --split-file F`: statistics of a split list alone.
fn inspect_list(f: &Path, classes: Option<u32>, json: bool, plot: Option<&Path>) -> Result<()> {
    let s = lt_data::inspect::split_list(f, classes.map(|k| k as usize))?;
    if let Some(p) = plot {
        lt_data::plot::counts_png(
            &f.file_name().unwrap_or(f.as_os_str()).to_string_lossy(),
            &s.counts,
            &lt_data::recipe::GroupRule::default().assign(&s.counts),
            p,
        )?;
    }
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!("{}\n{s}", f.display());
    }
    Ok(())
}

/// `lt-data inspect DIR`: statistics of a built dataset.
fn inspect_dataset(dir: &Path, json: bool, plot: Option<&Path>) -> Result<()> {
    let r = lt_data::inspect::dataset(dir)?;
    if let Some(p) = plot {
        lt_data::plot::counts_png(&r.dataset, &r.train.counts, &r.groups, p)?;
    }
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!("{} ({})\n{}", r.dataset, dir.display(), r.train);
        let width = r.splits.keys().map(String::len).max().unwrap_or(0).max(10);
        for (name, s) in r.splits.iter().filter(|(n, _)| *n != "train") {
            println!("{name:<width$} {} images ({})", s.total, s.storage);
        }
    }
    Ok(())
}
