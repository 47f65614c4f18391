//! BBN's cumulative-learning weight `alpha`, the one schedule the model and the loss share.
//!
//! The paper's "parabolic decay": `alpha = 1 - (T / T_max)^2`, with T the current epoch and
//! T_max the number of epochs. The official trainer counts epochs from 1 and evaluates
//! `1 - ((epoch - 1) / T_max)^2`, so with lt-train's zero-based `StepCtx::epoch` the same value is
//! `1 - (epoch / T_max)^2`: alpha is 1 in the first epoch and `1 - ((T_max - 1) / T_max)^2` in the
//! last (0.009975 for 200 epochs); it never reaches 0.
//!
//! T_max is the stage's epochs unless the config key `t_max` sets it. The official code divides
//! by 100 for a 90-epoch run and by 200 for a 180-epoch run (its `div_epoch`), which `t_max`
//! reproduces.

use lt_plugin::{Config, Error, Result, StepCtx};
use serde::Deserialize;

/// The config keys of the schedule, read by both the `bbn` model and the `bbn` loss.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AlphaConfig {
    /// Divisor of the parabola in epochs; absent means the stage's epochs.
    t_max: Option<f64>,
}

/// `1 - (epoch / t_max)^2` for a zero-based `epoch`; an error if `t_max` is 0 or `epoch` lies
/// past it (alpha would be negative).
pub fn cumulative_alpha(epoch: u32, t_max: u32) -> Result<f64> {
    if t_max == 0 {
        return Err(Error::State(
            "bbn: the stage has 0 epochs, alpha = 1 - (T / T_max)^2 is undefined".into(),
        ));
    }
    if epoch > t_max {
        return Err(Error::Config(format!(
            "t_max = {t_max} is shorter than the stage: epoch {epoch} would give a negative alpha"
        )));
    }
    let x = epoch as f64 / t_max as f64;
    Ok(1.0 - x * x)
}

/// The schedule of one component: a fixed T_max or the stage's epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlphaSchedule {
    /// `Some(n)`: divide by n epochs; `None`: by `StepCtx::total_epochs`.
    pub t_max: Option<u32>,
}

impl AlphaSchedule {
    /// Reads `t_max` (a whole number of epochs >= 1) from a component's config; other keys are
    /// errors.
    pub fn from_config(config: &Config) -> Result<AlphaSchedule> {
        let c: AlphaConfig = config.parse_or_default()?;
        let t_max = match c.t_max {
            None => None,
            Some(v) if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => {
                Some(v as u32)
            }
            Some(v) => {
                return Err(Error::Config(format!(
                    "t_max must be a whole number of epochs >= 1, got {v}"
                )))
            }
        };
        Ok(AlphaSchedule { t_max })
    }

    /// Alpha at the step `ctx` describes.
    pub fn at(&self, ctx: &StepCtx) -> Result<f64> {
        cumulative_alpha(ctx.epoch, self.t_max.unwrap_or(ctx.total_epochs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{cfg, ctx};

    #[test]
    fn alpha_follows_the_parabola_by_hand() {
        // 1 - (e / 200)^2; PyTorch/Python: [1 - (e / 200) ** 2 for e in (0, 50, 100, 199)].
        // e = 0: 1; e = 50: 1 - 0.0625 = 0.9375; e = 100: 1 - 0.25 = 0.75;
        // e = 199: 1 - 0.995^2 = 1 - 0.990025 = 0.009975.
        for (e, want) in [(0, 1.0), (50, 0.9375), (100, 0.75), (199, 0.009975)] {
            let got = cumulative_alpha(e, 200).unwrap();
            assert!((got - want).abs() < 1e-12, "epoch {e}: {got} vs {want}");
        }
        // Official 180-epoch rule (div_epoch 200): epoch 179 gives 1 - 0.895^2 = 0.198975.
        let s = AlphaSchedule::from_config(&cfg(r#"{"t_max": 200}"#)).unwrap();
        assert!((s.at(&ctx(179, 180)).unwrap() - 0.198975).abs() < 1e-12);
        // Without t_max the stage's epochs divide: 5 of 10 gives 1 - 0.25.
        let d = AlphaSchedule::from_config(&cfg("{}")).unwrap();
        assert_eq!(d.at(&ctx(5, 10)).unwrap(), 0.75);
        // Alpha decreases strictly over a stage.
        let a: Vec<f64> = (0..10).map(|e| d.at(&ctx(e, 10)).unwrap()).collect();
        assert!(a.windows(2).all(|w| w[1] < w[0]), "{a:?}");
    }

    #[test]
    fn bad_t_max_is_a_one_line_error_naming_the_key() {
        for json in [
            r#"{"t_max": 0}"#,
            r#"{"t_max": -3}"#,
            r#"{"t_max": 2.5}"#,
            r#"{"t_max": 1e12}"#,
        ] {
            let e = AlphaSchedule::from_config(&cfg(json)).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{json}: {e:?}");
            let m = e.to_string();
            assert!(m.starts_with("t_max must be") && !m.contains('\n'), "{m}");
        }
        let e = AlphaSchedule::from_config(&cfg(r#"{"tmax": 10}"#)).unwrap_err();
        assert!(e.to_string().contains("unknown field `tmax`"), "{e}");
        let short = AlphaSchedule::from_config(&cfg(r#"{"t_max": 5}"#)).unwrap();
        let e = short.at(&ctx(6, 10)).unwrap_err().to_string();
        assert!(e.starts_with("t_max = 5 is shorter than the stage"), "{e}");
        assert!(cumulative_alpha(0, 0).is_err());
    }
}
