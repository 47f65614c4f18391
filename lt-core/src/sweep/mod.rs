//! `lt-train --seeds 0,1,2`: the same training once per seed, each a normal run directory
//! `OUT/seed-S` (config, checkpoints, metrics), run by child processes of the trainer's binary,
//! `--jobs N` at a time; then `OUT/summary.json` and `OUT/summary.md`: for every numeric metric
//! of the runs' `metrics.json`, its mean, sample standard deviation, min, max and count.
//!
//! A sweep is always resumable: a seed whose `metrics.json` exists is not run again (its
//! configuration must still be the one asked for), an interrupted one continues from its last
//! checkpoint (`--resume`). A failed seed fails the sweep once the others have finished; the
//! summary is written only when every seed is complete, and a previous one is removed first.
//!
//! One file per concept: the `--seeds` syntax (seeds.rs), what a sweep directory may hold
//! (dir.rs), running the seeds (runner.rs), the statistics and summary files (summary.rs), the
//! errors (error.rs).

mod dir;
mod error;
mod runner;
mod seeds;
mod summary;

pub use dir::{seed_dir, SUMMARY_JSON, SUMMARY_MD};
pub use error::SweepError;
pub use runner::{Outcome, Sweep};
pub use seeds::Seeds;
pub use summary::{SeedSummary, Stats};

use crate::config::Config;
use std::path::{Path, PathBuf};

/// The configuration of seed `seed` of a sweep of `cfg` into `cfg.out` run `jobs` at a time:
/// `seed`, `out = OUT/seed-S`, and with several jobs a share of the cores (`threads` and
/// `loader_threads`, 0 meaning all cores, divided by `jobs`, at least 1 each; both may change
/// when a run resumes). `{seed}` in `init_checkpoint` or `init_backbone` becomes the seed, so
/// that a sweep's stage 2 starts each seed from the stage 1 of the same seed
/// (`init_checkpoint = "runs/s1/seed-{seed}/checkpoints/stage1-final.safetensors"`).
pub fn seed_config(cfg: &Config, seed: u64, jobs: usize) -> Config {
    let mut c = cfg.clone();
    c.seed = seed;
    c.out = seed_dir(&cfg.out, seed);
    for path in [&mut c.init_checkpoint, &mut c.init_backbone]
        .into_iter()
        .flatten()
    {
        *path = with_seed(path, seed);
    }
    if jobs > 1 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let share = |t: usize| (if t == 0 { cores } else { t } / jobs).max(1);
        c.threads = share(c.threads);
        c.loader_threads = share(c.loader_threads);
    }
    c
}

/// `path` with every `{seed}` replaced by `seed`.
fn with_seed(path: &Path, seed: u64) -> PathBuf {
    match path.to_str() {
        Some(s) if s.contains(SEED_PLACEHOLDER) => {
            PathBuf::from(s.replace(SEED_PLACEHOLDER, &seed.to_string()))
        }
        _ => path.to_path_buf(),
    }
}

/// What `seed_config` replaces by the seed in a checkpoint path.
pub const SEED_PLACEHOLDER: &str = "{seed}";

/// What a sweep checks of every seed before it starts any, reading only: the configuration,
/// the dataset's manifest, the runs of `upper_from`, and that the seed's run directory can
/// take (or holds) a run with this configuration.
pub fn check_seed(cfg: &Config) -> crate::Result<()> {
    cfg.validate()?;
    lt_data::manifest::Manifest::load(&cfg.dataset).map_err(|source| crate::Error::Dataset {
        path: cfg.dataset.clone(),
        source,
    })?;
    crate::metrics::UpperReference::of_config(cfg)?;
    crate::train::check_resumable(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_seed_gets_its_directory_and_a_share_of_the_cores() {
        let mut b = crate::config::Builder::default();
        b.set("dataset=d").unwrap().set("out=runs/s").unwrap();
        b.set("threads=5").unwrap().set("loader_threads=0").unwrap();
        let cfg = b.build().unwrap();
        let one = seed_config(&cfg, 3, 1);
        assert_eq!(
            (one.seed, one.out.clone()),
            (3, PathBuf::from("runs/s/seed-3"))
        );
        assert_eq!((one.threads, one.loader_threads), (5, 0));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let two = seed_config(&cfg, 3, 2);
        assert_eq!((two.threads, two.loader_threads), (2, (cores / 2).max(1)));
        assert_eq!(seed_config(&cfg, 0, 8).threads, 1);
        // Nothing else differs from the sweep's configuration.
        let mut back = two.clone();
        (back.seed, back.out, back.threads, back.loader_threads) =
            (cfg.seed, cfg.out.clone(), cfg.threads, cfg.loader_threads);
        assert_eq!(back, cfg);
    }

    #[test]
    fn each_seed_starts_from_the_checkpoint_of_its_own_seed() {
        let mut b = crate::config::Builder::default();
        b.set("dataset=d").unwrap().set("out=runs/s2").unwrap();
        let s1 = "runs/s1/seed-{seed}/checkpoints/stage1-final.safetensors";
        b.set(&format!("init_checkpoint=\"{s1}\"")).unwrap();
        b.set("stage2.epochs=1").unwrap();
        let cfg = b.build().unwrap();
        assert_eq!(
            seed_config(&cfg, 2, 1).init_checkpoint,
            Some(PathBuf::from(
                "runs/s1/seed-2/checkpoints/stage1-final.safetensors"
            ))
        );
        // A path without the placeholder is the same for every seed.
        b.set("init_checkpoint=\"s1.safetensors\"").unwrap();
        let fixed = b.build().unwrap();
        assert_eq!(
            seed_config(&fixed, 7, 1).init_checkpoint,
            Some(PathBuf::from("s1.safetensors"))
        );
    }
}
