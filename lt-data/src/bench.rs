//! Times the loader alone on a split file: what `lt-data bench` runs.

use crate::augment::Augment;
use crate::error::{Error, Result};
use crate::format::Reader;
use crate::loader::{HeapAllocator, Loader, LoaderConfig, LOADER_STAGES};
use crate::sampler::InstanceBalanced;
use crate::stages::StageTimes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// A split file (`.ltd`) or a dataset directory containing `train.ltd`.
    pub path: PathBuf,
    /// `cifar` or `imagenet` (train-time augmentation).
    pub aug: String,
    pub batch: usize,
    pub threads: usize,
    pub epochs: usize,
    /// Also profile the workers per stage (read, decode, augment).
    pub time_stages: bool,
}

/// Throughput and memory of one run.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub path: PathBuf,
    pub aug: String,
    pub batch: usize,
    pub threads: usize,
    pub epochs: usize,
    pub images: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    /// Peak resident set (VmHWM), which includes mapped file pages the loader touched; those
    /// are shared page cache, not copies.
    pub peak_rss_bytes: u64,
    /// With `time_stages`: the workers' profile per stage ([`StageTimes::report`]).
    pub stages: Vec<String>,
    /// Anonymous (private, non-file) resident memory at the end: the loader's own buffers.
    pub rss_anon_bytes: u64,
    /// Size of the split file, for comparing with the memory figures.
    pub file_bytes: u64,
}

/// A field of /proc/self/status in bytes (0 where unavailable, e.g. not Linux).
pub fn proc_status_bytes(field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs the loader over `opts.epochs` epochs of the split with instance-balanced sampling and
/// train-time augmentation, consuming (and recycling) every batch.
pub fn run(opts: &BenchOptions) -> Result<BenchReport> {
    let path = if opts.path.is_dir() {
        opts.path.join("train.ltd")
    } else {
        opts.path.clone()
    };
    if opts.batch == 0 || opts.threads == 0 || opts.epochs == 0 {
        return Err(Error::invalid(
            "bench needs --batch, --threads and --epochs of at least 1",
        ));
    }
    let aug = Augment::by_name(&opts.aug, true)?;
    let reader = Arc::new(Reader::open(&path)?);
    if opts.batch > reader.len() {
        return Err(Error::format(
            &path,
            format!(
                "--batch {} exceeds the {} samples of this split",
                opts.batch,
                reader.len()
            ),
        ));
    }
    let file_bytes = std::fs::metadata(&path)
        .map_err(|e| Error::io(&path, e))?
        .len();
    let sampler = Box::new(InstanceBalanced::new(reader.len(), 0));
    let cfg = LoaderConfig {
        batch_size: opts.batch,
        threads: opts.threads,
        prefetch: (2 * opts.threads).max(4),
        drop_last: false,
        aug,
        seed: 0,
    };
    let mut loader = Loader::new(reader, sampler, cfg, Arc::new(HeapAllocator))?;
    let times = Arc::new(StageTimes::new(LOADER_STAGES));
    if opts.time_stages {
        loader.time_stages(times.clone());
    }
    let start = Instant::now();
    let mut images = 0usize;
    for e in 0..opts.epochs {
        for b in loader.epoch(e as u64)? {
            images += b?.len();
        }
    }
    let wall = start.elapsed();
    let seconds = wall.as_secs_f64();
    Ok(BenchReport {
        stages: match opts.time_stages {
            true => times.report(wall),
            false => Vec::new(),
        },
        path,
        aug: opts.aug.clone(),
        batch: opts.batch,
        threads: opts.threads,
        epochs: opts.epochs,
        images,
        seconds,
        images_per_sec: images as f64 / seconds.max(1e-9),
        peak_rss_bytes: proc_status_bytes("VmHWM"),
        rss_anon_bytes: proc_status_bytes("RssAnon"),
        file_bytes,
    })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl std::fmt::Display for BenchReport {
    /// Ends with the line `images/s N`, which scripts parse.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "split {} ({:.1} MiB)",
            self.path.display(),
            mib(self.file_bytes)
        )?;
        writeln!(
            f,
            "aug {}  batch {}  threads {}  epochs {}",
            self.aug, self.batch, self.threads, self.epochs
        )?;
        writeln!(f, "images {} in {:.3} s", self.images, self.seconds)?;
        writeln!(
            f,
            "peak RSS {:.1} MiB (incl. mapped file pages), anonymous RSS {:.1} MiB",
            mib(self.peak_rss_bytes),
            mib(self.rss_anon_bytes)
        )?;
        for line in &self.stages {
            writeln!(f, "{line}")?;
        }
        write!(f, "images/s {:.0}", self.images_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Layout, Writer};

    #[test]
    fn bench_counts_every_image_and_prints_images_per_sec_last() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("train.ltd");
        let mut w = Writer::create(
            &p,
            Layout::Raw {
                height: 32,
                width: 32,
                channels: 3,
            },
            2,
        )
        .unwrap();
        for i in 0..300u32 {
            w.push(i % 2, &vec![(i % 256) as u8; 3072]).unwrap();
        }
        w.finish().unwrap();
        let opts = BenchOptions {
            path: d.path().to_path_buf(),
            aug: "cifar".into(),
            batch: 64,
            threads: 2,
            epochs: 3,
            time_stages: true,
        };
        let r = run(&opts).unwrap();
        assert_eq!(r.stages.len(), 1 + LOADER_STAGES.len() + 1);
        assert!(r.stages[1].starts_with("read ") && r.stages[3].starts_with("augment "));
        // 900 samples went through each stage.
        assert!(
            r.stages[2].split_whitespace().nth(3) == Some("900"),
            "{:?}",
            r.stages
        );
        assert_eq!(r.images, 900);
        assert!(r.images_per_sec > 0.0 && r.peak_rss_bytes > 0);
        let text = r.to_string();
        let last = text.lines().last().unwrap();
        assert!(
            last.starts_with("images/s ") && last[9..].parse::<f64>().is_ok(),
            "{text}"
        );
        let bad = BenchOptions {
            aug: "autoaugment".into(),
            ..opts.clone()
        };
        assert!(run(&bad)
            .unwrap_err()
            .to_string()
            .contains("unknown augmentation"));
        let missing = BenchOptions {
            path: d.path().join("nope.ltd"),
            ..opts
        };
        assert!(run(&missing).unwrap_err().to_string().contains("nope.ltd"));
    }
}
