//! The optimiser of the test-time aggregation weights: SGD with momentum, optional Nesterov and
//! L2 weight decay, in PyTorch's convention (`torch.optim.SGD`, dampening 0), which the official
//! test-time training uses (`lr` 0.1 on CIFAR, 0.025 on ImageNet-LT, momentum 0.9, weight decay
//! 5e-4, Nesterov):
//!
//! `d = g + wd w`; `b <- mu b + d` (`b = d` on the first step); `d <- d + mu b` (Nesterov) or
//! `d <- b`; `w <- w - lr d`.

use lt_plugin::tch::Tensor;
use lt_plugin::{check, Error, Result};

/// SGD hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl Sgd {
    /// Checks the values; `prefix` is the config keys' prefix (`test_time_`).
    pub fn checked(self, prefix: &str) -> Result<Sgd> {
        check::positive(&format!("{prefix}lr"), self.lr)?;
        check::at_least(&format!("{prefix}momentum"), self.momentum, 0.0)?;
        if self.momentum >= 1.0 {
            return Err(Error::Config(format!(
                "{prefix}momentum must be < 1, got {}",
                self.momentum
            )));
        }
        check::at_least(&format!("{prefix}weight_decay"), self.weight_decay, 0.0)?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::Config(format!(
                "{prefix}nesterov needs {prefix}momentum > 0"
            )));
        }
        Ok(self)
    }

    /// One step on `w` in place with gradient `grad`; `buf` is the momentum buffer (same shape,
    /// zero before the first step, where `mu * 0 + d = d` is PyTorch's first-step buffer).
    pub fn step(&self, w: &Tensor, buf: &Tensor, grad: &Tensor) -> Result<()> {
        lt_plugin::tch::no_grad(|| -> Result<()> {
            let d = grad.f_add(&w.f_mul_scalar(self.weight_decay)?)?;
            let d = if self.momentum > 0.0 {
                let _ = buf
                    .shallow_clone()
                    .f_mul_scalar_(self.momentum)?
                    .f_add_(&d)?;
                if self.nesterov {
                    d.f_add(&buf.f_mul_scalar(self.momentum)?)?
                } else {
                    buf.f_detach_copy()?
                }
            } else {
                d
            };
            let _ = w.shallow_clone().f_sub_(&d.f_mul_scalar(self.lr)?)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(t: &Tensor) -> Vec<f64> {
        Vec::try_from(t).unwrap()
    }

    #[test]
    fn two_nesterov_steps_by_hand() {
        let sgd = Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.5,
            nesterov: true,
        };
        let w = Tensor::from_slice(&[1.0f64, -2.0]);
        let buf = w.zeros_like();
        // Step 1, g = (0.2, 0.4): d = g + 0.5 w = (0.7, -0.6); b = d; d + 0.9 b = (1.33, -1.14);
        // w = (1 - 0.133, -2 + 0.114) = (0.867, -1.886).
        sgd.step(&w, &buf, &Tensor::from_slice(&[0.2, 0.4]))
            .unwrap();
        let want = [0.867, -1.886];
        assert!(vals(&w)
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() < 1e-12));
        // Step 2, g = (-0.1, 0): d = g + 0.5 w = (0.3335, -0.943); b = 0.9 (0.7, -0.6) + d =
        // (0.9635, -1.483); d + 0.9 b = (1.20065, -2.2777); w = (0.746935, -1.65823).
        // PyTorch: torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.5, nesterov=True)
        sgd.step(&w, &buf, &Tensor::from_slice(&[-0.1, 0.0]))
            .unwrap();
        let want = [0.746935, -1.65823];
        assert!(
            vals(&w)
                .iter()
                .zip(want)
                .all(|(g, w)| (g - w).abs() < 1e-12),
            "{:?}",
            vals(&w)
        );
        assert!(vals(&buf)
            .iter()
            .zip([0.9635, -1.483])
            .all(|(g, w)| (g - w).abs() < 1e-12));
        // Plain momentum (no Nesterov): w - lr b; without momentum: w - lr d.
        let heavy = Sgd {
            nesterov: false,
            ..sgd
        };
        let w = Tensor::from_slice(&[1.0f64]);
        let b = w.zeros_like();
        heavy.step(&w, &b, &Tensor::from_slice(&[0.2])).unwrap();
        heavy.step(&w, &b, &Tensor::from_slice(&[0.2])).unwrap();
        // d1 = 0.7, b1 = 0.7, w1 = 0.93; d2 = 0.2 + 0.465 = 0.665, b2 = 0.63 + 0.665 = 1.295,
        // w2 = 0.93 - 0.1295 = 0.8005.
        assert!((vals(&w)[0] - 0.8005).abs() < 1e-12, "{:?}", vals(&w));
        let plain = Sgd {
            momentum: 0.0,
            nesterov: false,
            ..sgd
        };
        let w = Tensor::from_slice(&[1.0f64]);
        plain
            .step(&w, &w.zeros_like(), &Tensor::from_slice(&[0.2]))
            .unwrap();
        assert!((vals(&w)[0] - 0.93).abs() < 1e-12);
    }

    #[test]
    fn bad_values_name_their_key() {
        let ok = Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: true,
        };
        assert!(ok.checked("test_time_").is_ok());
        for (bad, msg) in [
            (Sgd { lr: 0.0, ..ok }, "test_time_lr must be > 0, got 0"),
            (
                Sgd {
                    momentum: 1.0,
                    ..ok
                },
                "test_time_momentum must be < 1, got 1",
            ),
            (
                Sgd {
                    momentum: -0.1,
                    ..ok
                },
                "test_time_momentum must be >= 0",
            ),
            (
                Sgd {
                    weight_decay: -1.0,
                    ..ok
                },
                "test_time_weight_decay must be >= 0",
            ),
            (
                Sgd {
                    momentum: 0.0,
                    ..ok
                },
                "test_time_nesterov needs test_time_momentum > 0",
            ),
        ] {
            let e = bad.checked("test_time_").unwrap_err().to_string();
            assert!(e.contains(msg), "{e}");
        }
    }
}
