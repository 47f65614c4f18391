//! Where the time goes: thread time per stage of a parallel pipeline (the builder's read,
//! decode, resize, encode, write; the loader's decode, augment, collate), summed over the
//! threads that ran it, and a table of it against the wall time (`--time-stages`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Thread time of named stages, added to from any thread.
pub struct StageTimes {
    names: &'static [&'static str],
    nanos: Vec<AtomicU64>,
    calls: Vec<AtomicU64>,
}

impl StageTimes {
    /// Stages `names`, each at zero.
    pub fn new(names: &'static [&'static str]) -> Self {
        let zeros = || names.iter().map(|_| AtomicU64::new(0)).collect();
        StageTimes {
            names,
            nanos: zeros(),
            calls: zeros(),
        }
    }

    /// Runs `f`, adding its time to stage `i` (an index into the names).
    pub fn time<T>(&self, i: usize, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.add(i, t.elapsed());
        r
    }

    /// Adds `d` to stage `i`.
    pub fn add(&self, i: usize, d: Duration) {
        self.nanos[i].fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
        self.calls[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Seconds of thread time in stage `i` so far.
    pub fn seconds(&self, i: usize) -> f64 {
        self.nanos[i].load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// The profile as lines: per stage its thread-seconds, share of all stages' time, and
    /// milliseconds per call; then the wall time and how many threads' worth of it the stages
    /// kept busy (their total / wall).
    pub fn report(&self, wall: Duration) -> Vec<String> {
        let total: f64 = (0..self.names.len()).map(|i| self.seconds(i)).sum();
        let mut lines = vec![format!(
            "{:<10} {:>10} {:>7} {:>10} {:>9}",
            "stage", "thread-s", "share", "calls", "ms/call"
        )];
        for (i, name) in self.names.iter().enumerate() {
            let (s, n) = (self.seconds(i), self.calls[i].load(Ordering::Relaxed));
            lines.push(format!(
                "{name:<10} {s:>10.3} {:>6.1}% {n:>10} {:>9.3}",
                100.0 * s / total.max(1e-12),
                1e3 * s / n.max(1) as f64
            ));
        }
        let w = wall.as_secs_f64();
        lines.push(format!(
            "wall {w:.3} s; the stages kept {:.2} threads busy",
            total / w.max(1e-12)
        ));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_add_up_per_stage_across_threads() {
        let t = StageTimes::new(&["a", "b"]);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| t.time(0, || std::thread::sleep(Duration::from_millis(20))));
            }
        });
        t.add(1, Duration::from_millis(10));
        assert!(
            t.seconds(0) >= 0.04 && t.seconds(0) < 1.0,
            "{}",
            t.seconds(0)
        );
        assert!((t.seconds(1) - 0.01).abs() < 1e-9);
        let r = t.report(Duration::from_millis(25));
        assert_eq!(r.len(), 4);
        assert!(r[1].starts_with("a ") && r[1].contains('%'), "{r:?}");
        assert!(r[2].ends_with("10.000"), "{r:?}");
        assert!(r[3].starts_with("wall 0.025 s; the stages kept"), "{r:?}");
    }
}
