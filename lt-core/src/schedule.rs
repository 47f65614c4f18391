//! Learning-rate schedules of the long-tailed recipes.
//!
//! * Warm-up is linear and **per epoch** (as MiSLAS / LDAM-DRW): during epoch `e < warmup`
//!   (0-based) the rate is `base * (e + 1) / warmup`, constant within the epoch.
//! * Step decay multiplies the base rate by the factor of the last milestone reached: the
//!   CIFAR-LT recipe ([`Schedule::cifar_lt`]) is x0.1 from epoch 160 and x0.01 from epoch 180
//!   (0-based, i.e. MiSLAS' `epoch + 1 > 160`).
//! * Cosine is **per iteration** over the whole stage (MiSLAS stage 2):
//!   `min + (base - min) * (1 + cos(pi * t / T)) / 2` with `t = epoch * iters + iter`,
//!   `T = epochs * iters`; warm-up, if any, overrides it during the warm-up epochs.
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

string_enum! {
    /// A stage's `schedule` setting: the decay after warm-up, and how often the rate is set.
    pub enum ScheduleKind {
        /// Step decay at the stage's `milestones` (fractions of it), x`gamma` at each.
        Step = "step",
        /// Cosine to zero, set every iteration.
        Cosine = "cosine",
        /// Cosine to zero, set once per epoch to the value at its first iteration (as MiSLAS
        /// and classifier balancing do).
        CosineEpoch = "cosine-epoch",
        /// The base rate throughout.
        Constant = "constant",
    }
}

impl ScheduleKind {
    /// The iteration whose rate iteration `iter` of an epoch takes: `cosine-epoch` keeps each
    /// epoch's rate constant, at its first iteration's value.
    pub fn rate_iteration(self, iter: usize) -> usize {
        match self {
            ScheduleKind::CosineEpoch => 0,
            ScheduleKind::Step | ScheduleKind::Cosine | ScheduleKind::Constant => iter,
        }
    }
}

/// Decay after warm-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Decay {
    /// Keep the base rate.
    Constant,
    /// `(epoch, factor)`: from `epoch` on (0-based) the rate is `base * factor`.
    Step { milestones: Vec<(usize, f64)> },
    /// Per-iteration cosine from `base` at the stage start to `min_lr` at its end.
    Cosine { min_lr: f64 },
}

/// A learning-rate schedule for one training stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub base_lr: f64,
    /// Epochs of the stage (needed by cosine).
    pub epochs: usize,
    /// Linear per-epoch warm-up epochs (0: none).
    #[serde(default)]
    pub warmup_epochs: usize,
    pub decay: Decay,
}

impl Schedule {
    /// The CIFAR-LT recipe (LDAM-DRW, MiSLAS stage 1): 5 warm-up epochs, x0.1 at 160, x0.01 at
    /// 180; `epochs` is normally 200.
    pub fn cifar_lt(base_lr: f64, epochs: usize) -> Self {
        Schedule {
            base_lr,
            epochs,
            warmup_epochs: 5,
            decay: Decay::Step {
                milestones: vec![(160, 0.1), (180, 0.01)],
            },
        }
    }

    /// Per-iteration cosine to zero without warm-up (MiSLAS stage 2).
    pub fn cosine(base_lr: f64, epochs: usize) -> Self {
        Schedule {
            base_lr,
            epochs,
            warmup_epochs: 0,
            decay: Decay::Cosine { min_lr: 0.0 },
        }
    }

    /// Checks the numbers once, so [`Schedule::lr`] cannot fail.
    pub fn validate(&self) -> Result<()> {
        if !(self.base_lr.is_finite() && self.base_lr >= 0.0) {
            return Err(Error::Config(format!(
                "schedule: invalid base learning rate {}",
                self.base_lr
            )));
        }
        if self.epochs == 0 {
            return Err(Error::Config(
                "schedule: a stage needs at least one epoch".into(),
            ));
        }
        match &self.decay {
            Decay::Constant => {}
            Decay::Step { milestones } => {
                if milestones.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(Error::Config(format!("schedule: step milestones must be strictly increasing epochs, got {milestones:?}")));
                }
                if milestones.iter().any(|m| !(m.1.is_finite() && m.1 >= 0.0)) {
                    return Err(Error::Config(format!(
                        "schedule: invalid step factor in {milestones:?}"
                    )));
                }
            }
            Decay::Cosine { min_lr } => {
                if !(min_lr.is_finite() && *min_lr >= 0.0 && *min_lr <= self.base_lr) {
                    return Err(Error::Config(format!(
                        "schedule: cosine min_lr {min_lr} must lie in [0, base_lr]"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Learning rate for iteration `iter` (0-based) of epoch `epoch` (0-based), with
    /// `iters_per_epoch` iterations per epoch. Step and warm-up schedules ignore `iter`.
    pub fn lr(&self, epoch: usize, iter: usize, iters_per_epoch: usize) -> f64 {
        if epoch < self.warmup_epochs {
            return self.base_lr * (epoch + 1) as f64 / self.warmup_epochs as f64;
        }
        match &self.decay {
            Decay::Constant => self.base_lr,
            Decay::Step { milestones } => {
                let factor = milestones
                    .iter()
                    .filter(|(e, _)| epoch >= *e)
                    .map(|(_, f)| *f)
                    .next_back()
                    .unwrap_or(1.0);
                self.base_lr * factor
            }
            Decay::Cosine { min_lr } => {
                let ipe = iters_per_epoch.max(1);
                let total = (self.epochs * ipe) as f64;
                let t = ((epoch * ipe + iter.min(ipe - 1)) as f64).min(total);
                min_lr
                    + (self.base_lr - min_lr) * (1.0 + (std::f64::consts::PI * t / total).cos())
                        / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cifar_lt_recipe_warmup_and_steps() {
        let s = Schedule::cifar_lt(0.1, 200);
        s.validate().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(s.lr(0, 0, 100), 0.02));
        assert!(
            close(s.lr(0, 99, 100), 0.02),
            "warm-up is constant within an epoch"
        );
        assert!(close(s.lr(3, 0, 100), 0.08));
        assert!(close(s.lr(4, 0, 100), 0.1));
        assert!(close(s.lr(5, 0, 100), 0.1));
        assert!(close(s.lr(159, 0, 100), 0.1));
        assert!(close(s.lr(160, 0, 100), 0.01));
        assert!(close(s.lr(179, 50, 100), 0.01));
        assert!(close(s.lr(180, 0, 100), 0.001));
        assert!(close(s.lr(199, 99, 100), 0.001));
    }

    #[test]
    fn cosine_per_iteration() {
        let s = Schedule::cosine(0.2, 10);
        s.validate().unwrap();
        assert!((s.lr(0, 0, 4) - 0.2).abs() < 1e-12);
        // Half-way (t = 20 of 40): 0.1.
        assert!((s.lr(5, 0, 4) - 0.1).abs() < 1e-12);
        // t = 1 of 40: 0.1 * (1 + cos(pi/40)).
        assert!((s.lr(0, 1, 4) - 0.1 * (1.0 + (std::f64::consts::PI / 40.0).cos())).abs() < 1e-12);
        // Strictly decreasing within an epoch, last iteration above min.
        assert!(s.lr(2, 3, 4) < s.lr(2, 2, 4));
        assert!(s.lr(9, 3, 4) > 0.0);
        let with_min = Schedule {
            decay: Decay::Cosine { min_lr: 0.01 },
            ..Schedule::cosine(0.2, 10)
        };
        assert!((with_min.lr(5, 0, 4) - 0.105).abs() < 1e-12);
    }

    #[test]
    fn validation_and_serde() {
        let bad = Schedule {
            decay: Decay::Step {
                milestones: vec![(180, 0.01), (160, 0.1)],
            },
            ..Schedule::cifar_lt(0.1, 200)
        };
        assert!(bad.validate().is_err());
        assert!(Schedule::cosine(0.1, 0).validate().is_err());
        assert!(Schedule {
            base_lr: -1.0,
            ..Schedule::cosine(0.1, 5)
        }
        .validate()
        .is_err());
        let s = Schedule::cifar_lt(0.1, 200);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"kind\":\"step\""), "{json}");
        let back: Schedule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
