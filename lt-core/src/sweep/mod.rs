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

/// The configuration of seed `seed` of a sweep of `cfg` into `cfg.out` run `jobs` at a time:
/// `seed`, `out = OUT/seed-S`, and with several jobs a share of the cores (`threads` and
/// `loader_threads`, 0 meaning all cores, divided by `jobs`, at least 1 each; both may change
/// when a run resumes).
pub fn seed_config(cfg: &Config, seed: u64, jobs: usize) -> Config {
    let mut c = cfg.clone();
    c.seed = seed;
    c.out = seed_dir(&cfg.out, seed);
    if jobs > 1 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let share = |t: usize| (if t == 0 { cores } else { t } / jobs).max(1);
        c.threads = share(c.threads);
        c.loader_threads = share(c.loader_threads);
    }
    c
}

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
    use std::path::PathBuf;

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
}
