//! The run's clock: wall time since the run started (continued across `--resume`), the ETA
//! from this run's mean epoch time, and the two ways times are written: RFC 3339 UTC
//! timestamps (`metrics.jsonl`, `metrics.csv`) and `H:MM:SS` durations (the epoch line).
//!
//! The timestamp is formatted here from `SystemTime` with the days-to-civil conversion (a
//! dozen lines) rather than through a date crate, which would add more than it saves.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall time of a run and of its epochs in this process.
pub(super) struct RunClock {
    started: Instant,
    /// Seconds the run had already taken before this process (a resumed run), else 0.
    before: f64,
    /// When the last epoch of this process ended (or training began).
    mark: Instant,
    /// Seconds of this process's epochs, and how many.
    epoch_secs: f64,
    epochs: usize,
}

impl RunClock {
    /// A clock for a run whose process started at `started`, `before` seconds into the run.
    pub fn new(started: Instant, before: f64) -> Self {
        RunClock {
            started,
            before,
            mark: Instant::now(),
            epoch_secs: 0.0,
            epochs: 0,
        }
    }

    /// Wall seconds since the run started, earlier processes of a resumed run included.
    pub fn elapsed(&self) -> f64 {
        self.before + self.started.elapsed().as_secs_f64()
    }

    /// Counts an epoch as ended now: its time is the time since the previous one ended.
    pub fn epoch_done(&mut self) {
        let now = Instant::now();
        self.epoch_secs += now.duration_since(self.mark).as_secs_f64();
        self.epochs += 1;
        self.mark = now;
    }

    /// Seconds the `left` remaining epochs should take at this process's mean epoch time.
    pub fn eta(&self, left: usize) -> f64 {
        self.epoch_secs / self.epochs.max(1) as f64 * left as f64
    }
}

/// `seconds` as `H:MM:SS` (whole seconds, rounded; hours unbounded).
pub(super) fn hms(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds: `2024-02-29T12:34:56.789Z`.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let ms: i64 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(d),
        Err(e) => -millis(e.duration()),
    };
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

fn millis(d: Duration) -> i64 {
    d.as_millis() as i64
}

/// (year, month, day) of the proleptic Gregorian calendar `days` after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> SystemTime {
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis((-ms) as u64)
        }
    }

    #[test]
    fn rfc3339_of_known_dates() {
        // Expected values from Python's datetime.fromtimestamp(s, timezone.utc).
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_500, "2000-02-29T00:00:00.500Z"),
            (1_000_000_000_000, "2001-09-09T01:46:40.000Z"),
            (1_709_210_096_789, "2024-02-29T12:34:56.789Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
            (-1000, "1969-12-31T23:59:59.000Z"),
        ] {
            assert_eq!(rfc3339(at(ms)), want, "{ms} ms");
        }
    }

    #[test]
    fn civil_days_round_trip_over_four_centuries() {
        // Day by day, the date advances by one day with the Gregorian month lengths.
        let (mut y, mut m, mut d) = civil_from_days(-100_000);
        for days in -99_999..100_000 {
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                28 + u32::from(leap),
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            (y, m, d) = match (d == len[m as usize - 1], m == 12) {
                (false, _) => (y, m, d + 1),
                (true, false) => (y, m + 1, 1),
                (true, true) => (y + 1, 1, 1),
            };
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        }
    }

    #[test]
    fn hms_rounds_to_whole_seconds() {
        assert_eq!(hms(0.0), "0:00:00");
        assert_eq!(hms(83.4), "0:01:23");
        assert_eq!(hms(296.6), "0:04:57");
        assert_eq!(hms(3600.0 * 27.0 + 61.0), "27:01:01");
        assert_eq!(hms(-3.0), "0:00:00");
    }

    #[test]
    fn eta_is_the_mean_epoch_time_times_the_epochs_left() {
        let mut c = RunClock::new(Instant::now(), 10.0);
        assert_eq!(c.eta(5), 0.0);
        std::thread::sleep(Duration::from_millis(20));
        c.epoch_done();
        std::thread::sleep(Duration::from_millis(20));
        c.epoch_done();
        let mean = c.eta(1);
        assert!((0.02..1.0).contains(&mean), "{mean}");
        assert!((c.eta(4) - 4.0 * mean).abs() < 1e-9);
        assert!(c.elapsed() >= 10.04);
    }
}
