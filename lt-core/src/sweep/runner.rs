//! Running a sweep's seeds: each seed's run is a child process (the trainer's own binary, told
//! which seed it is), up to `jobs` at a time; their output lines are passed on prefixed with
//! `[seed S]`. Every seed is checked before any starts; complete seeds are skipped; a seed that
//! fails does not stop the others, and fails the sweep once they have finished.

use super::dir;
use super::{seed_dir, SeedSummary, SweepError};
use crate::config::Config;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;

/// A sweep: one run per seed in `out/seed-S`.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep directory.
    pub out: PathBuf,
    /// The seeds, in the order they start.
    pub seeds: Vec<u64>,
    /// Seeds run at the same time (at least 1).
    pub jobs: usize,
    /// The name a child's error line starts with (`lt-train`, as in `lt-train: MESSAGE`),
    /// left out of a failed seed's reason.
    pub program: String,
}

/// What a finished sweep did.
#[derive(Debug)]
pub struct Outcome {
    /// Seeds run (or continued) by this sweep.
    pub ran: Vec<u64>,
    /// Seeds complete before it started.
    pub skipped: Vec<u64>,
    /// The summary written to `summary.json` and `summary.md`.
    pub summary: SeedSummary,
}

impl Sweep {
    /// Runs the seeds of `cfg` not yet complete with `child(seed)` (a command that trains seed
    /// `seed`, [`super::seed_config`], continuing an interrupted run), once [`super::check_seed`]
    /// has accepted every seed's configuration and run directory; then writes the summary. The
    /// sweep directory must hold nothing a sweep does not write.
    pub fn run(
        &self,
        cfg: &Config,
        child: impl Fn(u64) -> Command + Sync,
    ) -> crate::Result<Outcome> {
        if let Some(d) = crate::dist::DistConfig::from_env(None)? {
            return Err(SweepError::Distributed {
                rank: d.rank,
                world_size: d.world_size,
            }
            .into());
        }
        let check = |seed| super::check_seed(&super::seed_config(cfg, seed, self.jobs));
        Ok(self.run_checked(check, child)?)
    }

    /// [`Sweep::run`] with `check(seed)` as the check of every seed before any starts.
    fn run_checked(
        &self,
        check: impl Fn(u64) -> crate::Result<()>,
        child: impl Fn(u64) -> Command + Sync,
    ) -> Result<Outcome, SweepError> {
        dir::check(&self.out)?;
        for &seed in &self.seeds {
            check(seed).map_err(|e| SweepError::Seed {
                seed,
                dir: seed_dir(&self.out, seed),
                source: Box::new(e),
            })?;
        }
        dir::remove_summary(&self.out)?;
        let (skipped, ran): (Vec<u64>, Vec<u64>) = self
            .seeds
            .iter()
            .partition(|&&s| dir::complete(&self.out, s));
        for &seed in &skipped {
            eprintln!(
                "seed {seed}: complete ({}), skipped",
                seed_dir(&self.out, seed).join("metrics.json").display()
            );
        }
        let failed = self.run_all(&ran, &child)?;
        if let Some(((seed, reason), rest)) = failed.split_first() {
            return Err(SweepError::Failed {
                seed: *seed,
                dir: seed_dir(&self.out, *seed),
                reason: reason.clone(),
                others: rest.iter().map(|(s, _)| *s).collect(),
            });
        }
        let summary = SeedSummary::read(&self.out, &self.seeds)?;
        summary.write(&self.out)?;
        Ok(Outcome {
            ran,
            skipped,
            summary,
        })
    }

    /// Runs `seeds` with up to `jobs` children at a time; returns the failed ones with their
    /// reasons, in seed order.
    fn run_all(
        &self,
        seeds: &[u64],
        child: &(impl Fn(u64) -> Command + Sync),
    ) -> Result<Vec<(u64, String)>, SweepError> {
        let queue = Mutex::new(seeds.iter().copied().collect::<VecDeque<u64>>());
        let results = Mutex::new(Vec::new());
        let workers = self.jobs.clamp(1, seeds.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let Some(seed) = queue.lock().expect("queue").pop_front() else {
                        break;
                    };
                    let r = self.run_one(seed, child(seed));
                    results.lock().expect("results").push((seed, r));
                });
            }
        });
        let mut results = results.into_inner().expect("results");
        results.sort_by_key(|(s, _)| seeds.iter().position(|x| x == s));
        let mut failed = Vec::new();
        for (seed, r) in results {
            if let Some(reason) = r? {
                failed.push((seed, reason));
            }
        }
        Ok(failed)
    }

    /// Runs one seed's child, passing its lines on; `Some(reason)` when it failed.
    fn run_one(&self, seed: u64, mut cmd: Command) -> Result<Option<String>, SweepError> {
        eprintln!(
            "seed {seed}: running in {}",
            seed_dir(&self.out, seed).display()
        );
        let mut proc = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| SweepError::Spawn {
                seed,
                program: PathBuf::from(cmd.get_program()),
                err,
            })?;
        let (stdout, stderr) = (proc.stdout.take(), proc.stderr.take());
        let last = std::thread::scope(|scope| {
            let err = scope.spawn(|| forward(stderr, seed, true));
            forward(stdout, seed, false);
            err.join().expect("stderr reader")
        });
        let status = proc.wait().map_err(|e| SweepError::Spawn {
            seed,
            program: PathBuf::from(cmd.get_program()),
            err: e,
        })?;
        if status.success() {
            eprintln!("seed {seed}: done");
            return Ok(None);
        }
        Ok(Some(self.reason(status, last)))
    }

    /// Why a child failed: its last stderr line (its error) without the program's prefix, or
    /// how it ended when it printed none or was killed.
    fn reason(&self, status: ExitStatus, last: Option<String>) -> String {
        use std::os::unix::process::ExitStatusExt;
        let prefix = format!("{}: ", self.program);
        match (status.code(), last, status.signal()) {
            (Some(_), Some(line), _) => line.strip_prefix(&prefix).unwrap_or(&line).to_string(),
            (Some(code), None, _) => format!("exited with status {code} without a message"),
            (None, _, Some(sig)) => format!("killed by signal {sig}"),
            (None, _, None) => format!("ended abnormally ({status})"),
        }
    }
}

/// Passes a child's lines on to this process's stdout or stderr, prefixed `[seed S] `; returns
/// the last non-empty line.
fn forward(pipe: Option<impl std::io::Read>, seed: u64, to_stderr: bool) -> Option<String> {
    let mut last = None;
    for line in BufReader::new(pipe?).lines() {
        let Ok(line) = line else { break };
        // A progress bar's carriage returns are not lines; only what follows the last counts.
        let line = line.rsplit('\r').next().unwrap_or("").to_string();
        if line.trim().is_empty() {
            continue;
        }
        match to_stderr {
            true => eprintln!("[seed {seed}] {line}"),
            false => println!("[seed {seed}] {line}"),
        }
        last = Some(line);
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep of `sh -c SCRIPT` children (the seed in `$1`), which write a metrics.json.
    fn sweep(dir: &std::path::Path, seeds: &[u64], jobs: usize) -> Sweep {
        Sweep {
            out: dir.join("sweep"),
            seeds: seeds.to_vec(),
            jobs,
            program: "fake".into(),
        }
    }

    fn shell(out: PathBuf, script: &'static str) -> impl Fn(u64) -> Command + Sync {
        move |seed| {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(script)
                .arg("sh")
                .arg(seed.to_string())
                .arg(seed_dir(&out, seed));
            c
        }
    }

    const TRAIN: &str = r#"mkdir -p "$2" && echo "{\"top1\": $((50 + $1))}" > "$2/metrics.json""#;

    #[test]
    fn runs_every_seed_then_summarises() {
        let dir = tempfile::tempdir().unwrap();
        let s = sweep(dir.path(), &[0, 1, 2, 3], 3);
        let o = s
            .run_checked(|_| Ok(()), shell(s.out.clone(), TRAIN))
            .unwrap();
        assert_eq!((o.ran, o.skipped), (vec![0, 1, 2, 3], vec![]));
        assert_eq!(o.summary.metrics[0].1.values, [50.0, 51.0, 52.0, 53.0]);
        assert!(s.out.join("summary.json").is_file() && s.out.join("summary.md").is_file());
        // Again: nothing to run; the children would fail if they ran.
        let o = s
            .run_checked(|_| Ok(()), shell(s.out.clone(), "exit 3"))
            .unwrap();
        assert_eq!((o.ran, o.skipped), (vec![], vec![0, 1, 2, 3]));
    }

    #[test]
    fn a_failed_seed_fails_the_sweep_after_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let s = sweep(dir.path(), &[0, 1, 2], 2);
        let script = r#"if [ "$1" = 1 ]; then echo "fake: no disk for $1" >&2; exit 1; fi; mkdir -p "$2" && echo '{"top1": 1}' > "$2/metrics.json""#;
        let err = s
            .run_checked(|_| Ok(()), shell(s.out.clone(), script))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "seed 1 failed (run directory {}): no disk for 1",
                seed_dir(&s.out, 1).display()
            )
        );
        assert!(dir::complete(&s.out, 0) && dir::complete(&s.out, 2));
        assert!(!s.out.join("summary.json").exists());
        let err = s
            .run_checked(|_| Ok(()), shell(s.out.clone(), "kill -9 $$"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("): killed by signal 9"), "{err}");
        let err = s
            .run_checked(|_| Ok(()), shell(s.out.clone(), "exit 4"))
            .unwrap_err();
        assert!(err
            .to_string()
            .ends_with("): exited with status 4 without a message"));
    }

    #[test]
    fn a_refused_seed_stops_the_sweep_before_any_runs() {
        let dir = tempfile::tempdir().unwrap();
        let s = sweep(dir.path(), &[0, 1], 2);
        let check = |seed: u64| match seed {
            1 => Err(crate::Error::RunDir(
                "made with other values of stage1.lr".into(),
            )),
            _ => Ok(()),
        };
        let err = s
            .run_checked(check, shell(s.out.clone(), TRAIN))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "seed 1 ({}): made with other values of stage1.lr",
                seed_dir(&s.out, 1).display()
            )
        );
        assert!(!s.out.exists());
    }
}
