//! What can stop a `--seeds` sweep; every message is one line naming the seed and its run
//! directory, or the sweep directory.

use std::path::PathBuf;

/// Errors of a `--seeds` sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// `--seeds` text that is not a list of seeds: `--seeds '0,x': 'x' is not a seed ...`.
    #[error("--seeds '{text}': {problem}")]
    Seeds { text: String, problem: String },
    /// The sweep directory (`--out`) is a file, or holds something a sweep does not write
    /// (`what`: `a file`, `holds notes.txt, seed-x/`).
    #[error("{}: not a --seeds directory ({what}); choose another --out", dir.display())]
    NotSweepDir { dir: PathBuf, what: String },
    /// A seed's run directory cannot take this sweep's run (another configuration, not a run
    /// directory); found before any seed starts.
    #[error("seed {seed} ({}): {source}", dir.display())]
    Seed {
        seed: u64,
        dir: PathBuf,
        #[source]
        source: Box<crate::Error>,
    },
    /// `--seeds` under a distributed launcher (torchrun, srun with several tasks): every rank
    /// would run the whole sweep.
    #[error("--seeds under a distributed launch (rank {rank} of {world_size}): every rank would run the whole sweep; start lt-train --seeds once, without torchrun or srun")]
    Distributed { rank: usize, world_size: usize },
    /// A seed's child process could not be started.
    #[error("seed {seed}: cannot start {}: {err}", program.display())]
    Spawn {
        seed: u64,
        program: PathBuf,
        err: std::io::Error,
    },
    /// Seeds whose runs failed, once every seed had finished: the first one's reason, and the
    /// others' numbers (their lines are above it).
    #[error("seed {seed} failed (run directory {}): {reason}{}", dir.display(), also(others))]
    Failed {
        seed: u64,
        dir: PathBuf,
        reason: String,
        others: Vec<u64>,
    },
    /// A finished seed's `metrics.json` that does not read as one.
    #[error("{}: {reason}", path.display())]
    Metrics { path: PathBuf, reason: String },
    /// A summary file could not be written (the message names it).
    #[error(transparent)]
    Write(lt_data::Error),
    /// An operating-system error on a path of the sweep directory.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
}

/// `; seed 3 failed too` / `; seeds 3, 4 failed too`; empty without others.
fn also(others: &[u64]) -> String {
    let list: Vec<String> = others.iter().map(u64::to_string).collect();
    match others.len() {
        0 => String::new(),
        1 => format!("; seed {} failed too", list[0]),
        _ => format!("; seeds {} failed too", list.join(", ")),
    }
}

impl SweepError {
    /// An OS error on `path`.
    pub fn io(path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        SweepError::Io {
            path: path.into(),
            err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_seed_its_directory_and_the_others() {
        let e = |others: Vec<u64>| {
            SweepError::Failed {
                seed: 1,
                dir: "runs/x/seed-1".into(),
                reason: "stopped".into(),
                others,
            }
            .to_string()
        };
        assert_eq!(
            e(vec![]),
            "seed 1 failed (run directory runs/x/seed-1): stopped"
        );
        assert_eq!(
            e(vec![2]),
            "seed 1 failed (run directory runs/x/seed-1): stopped; seed 2 failed too"
        );
        assert_eq!(
            e(vec![2, 5]),
            "seed 1 failed (run directory runs/x/seed-1): stopped; seeds 2, 5 failed too"
        );
    }
}
