//! Mixed precision: the `amp` setting, autocast around the forward pass, and for float16 a
//! dynamic loss scaler that behaves as `torch.amp.GradScaler` (initial scale 2^16, x2 after
//! 2,000 consecutive finite steps, x0.5 and the step skipped when a gradient is inf or NaN),
//! entirely on the device: the scale, the growth tracker and the inf flag are tensors, the
//! unscale-and-check, the skipped update and the scale update are kernels, and nothing is read
//! back to the host inside a step.

use crate::ops::{self, HalfType};
use crate::optim::Sgd;
use crate::Result;
use tch::{Device, Kind, Tensor};

string_enum! {
    /// The `amp` setting (`"off" | "bf16" | "fp16"` in configurations). The papers' numbers are
    /// fp32 (`off`, the default); `bf16` needs no loss scaling (float32's exponent range); `fp16`
    /// is scaled by [`GradScaler`].
    pub enum Precision {
        Off = "off",
        Bf16 = "bf16",
        Fp16 = "fp16",
    }
}

impl Precision {
    /// Runs `f` (a forward pass) under autocast at this precision on `device`.
    pub fn autocast<T>(self, device: Device, f: impl FnOnce() -> T) -> Result<T> {
        Ok(match self {
            Precision::Off => f(),
            Precision::Bf16 => ops::autocast(device, HalfType::Bf16, f)?,
            Precision::Fp16 => ops::autocast(device, HalfType::F16, f)?,
        })
    }
}

/// Names of the scaler's state among the optimiser tensors of a checkpoint.
pub const SCALE_KEY: &str = "amp.scale";
pub const GROWTH_KEY: &str = "amp.growth_tracker";

/// Dynamic loss scaling for float16, as `torch.amp.GradScaler` with its defaults.
pub struct GradScaler {
    scale: Tensor,
    growth_tracker: Tensor,
    found_inf: Tensor,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: i64,
}

impl GradScaler {
    /// Scale 2^16, growth x2 every 2,000 finite steps, backoff x0.5.
    pub fn new(device: Device) -> Self {
        GradScaler {
            scale: Tensor::full([1], 65536.0, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([1], (Kind::Int, device)),
            found_inf: Tensor::zeros([1], (Kind::Float, device)),
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }

    /// The loss to back-propagate: `loss * scale`.
    pub fn scale(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.f_mul(&self.scale.f_to_kind(loss.kind())?)?)
    }

    /// Unscales the gradients of `opt`'s parameters in place and records whether any is inf or
    /// NaN, then steps (skipped on the device if one was) and updates the scale.
    pub fn step(&mut self, opt: &mut Sgd) -> Result<()> {
        let grads: Vec<Tensor> = opt
            .groups()
            .iter()
            .flat_map(|g| g.params.iter().map(|(_, p)| p.grad()))
            .filter(Tensor::defined)
            .collect();
        tch::no_grad(|| -> Result<()> {
            let _ = self.found_inf.f_zero_()?;
            let inv = self.scale.f_reciprocal()?;
            ops::amp_unscale(&grads.iter().collect::<Vec<_>>(), &self.found_inf, &inv)?;
            opt.step_unless_inf(&self.found_inf)?;
            let _ = self.scale.f_internal_amp_update_scale_(
                &self.growth_tracker,
                &self.found_inf,
                self.growth_factor,
                self.backoff_factor,
                self.growth_interval,
            )?;
            Ok(())
        })
    }

    /// 1 when the last [`step`](Self::step) was skipped, on the device (nothing is read).
    pub fn found_inf(&self) -> &Tensor {
        &self.found_inf
    }

    /// Whether the last [`step`](Self::step) was skipped (reads the device).
    pub fn skipped(&self) -> Result<bool> {
        Ok(f64::try_from(&self.found_inf)? != 0.0)
    }

    /// The current scale (reads the device).
    pub fn current_scale(&self) -> Result<f64> {
        Ok(f64::try_from(&self.scale)?)
    }

    /// Scale and growth tracker, for checkpoints (see [`SCALE_KEY`]).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            (SCALE_KEY.to_string(), self.scale.shallow_clone()),
            (GROWTH_KEY.to_string(), self.growth_tracker.shallow_clone()),
        ]
    }

    /// Restores what [`state_tensors`](Self::state_tensors) saved; other names are ignored.
    pub fn load_state_tensors(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        for (k, t) in named {
            let (dst, kind) = match k.as_str() {
                SCALE_KEY => (&mut self.scale, Kind::Float),
                GROWTH_KEY => (&mut self.growth_tracker, Kind::Int),
                _ => continue,
            };
            let device = dst.device();
            *dst = t
                .f_to_device(device)?
                .f_to_kind(kind)?
                .f_reshape([1])?
                .copy();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_device;

    fn opt_over(p: &Tensor) -> Sgd {
        Sgd::single_group(vec![("w".into(), p.shallow_clone())], 0.1, 0.0).unwrap()
    }

    /// A parameter with these values on the test device, its optimiser and a fresh scaler.
    fn fixture(values: &[f32]) -> (Tensor, Sgd, GradScaler) {
        let p = Tensor::from_slice(values)
            .to_device(test_device())
            .set_requires_grad(true);
        let opt = opt_over(&p);
        (p, opt, GradScaler::new(test_device()))
    }

    /// The parameter's values, on the host.
    fn host(p: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&p.detach().to_device(Device::Cpu)).unwrap()
    }

    /// Backward of `sum(p * g) * scale`: the gradient `g * scale`, as a scaled loss gives.
    fn backward(s: &GradScaler, opt: &mut Sgd, p: &Tensor, g: &[f32]) {
        opt.zero_grad().unwrap();
        let loss = (p * Tensor::from_slice(g).to_device(p.device())).sum(Kind::Float);
        s.scale(&loss).unwrap().backward();
    }

    #[test]
    fn parses_the_three_settings() {
        let parse = |v: &str| {
            toml::from_str::<toml::Table>(&format!("amp = {v}")).unwrap()["amp"]
                .clone()
                .try_into::<Precision>()
        };
        assert_eq!(parse("\"off\"").unwrap(), Precision::Off);
        assert_eq!(parse("\"bf16\"").unwrap(), Precision::Bf16);
        assert_eq!(parse("\"fp16\"").unwrap(), Precision::Fp16);
        let e = parse("\"fp8\"").unwrap_err().to_string();
        assert!(
            e.contains("expected \"off\", \"bf16\" or \"fp16\", got \"fp8\""),
            "{e}"
        );
        assert!(parse("true")
            .unwrap_err()
            .to_string()
            .contains("expected a string"));
    }

    #[test]
    fn finite_steps_unscale_and_update_as_without_scaling() {
        let (p, mut opt, mut s) = fixture(&[1.0f32, -2.0]);
        assert_eq!(s.current_scale().unwrap(), 65536.0);
        backward(&s, &mut opt, &p, &[0.5, 0.25]);
        s.step(&mut opt).unwrap();
        assert!(!s.skipped().unwrap());
        // Unscaled gradient [0.5, 0.25], lr 0.1, first momentum step: p - 0.1 g.
        assert_eq!(host(&p), [0.95, -2.025]);
        assert_eq!(s.current_scale().unwrap(), 65536.0);
    }

    #[test]
    fn an_inf_gradient_skips_the_step_and_halves_the_scale() {
        let (p, mut opt, mut s) = fixture(&[1.0f32, -2.0]);
        for (i, bad) in [f32::INFINITY, f32::NAN].into_iter().enumerate() {
            backward(&s, &mut opt, &p, &[bad, 1.0]);
            s.step(&mut opt).unwrap();
            assert!(s.skipped().unwrap());
            assert_eq!(host(&p), [1.0, -2.0]);
            assert!(
                opt.state_tensors()[0]
                    .1
                    .abs()
                    .sum(Kind::Float)
                    .double_value(&[])
                    == 0.0
            );
            assert_eq!(
                s.current_scale().unwrap(),
                65536.0 / 2f64.powi(i as i32 + 1)
            );
        }
        // The next finite step goes through.
        backward(&s, &mut opt, &p, &[1.0, 1.0]);
        s.step(&mut opt).unwrap();
        assert!(!s.skipped().unwrap());
        assert_eq!(host(&p), [0.9, -2.1]);
    }

    #[test]
    fn the_scale_doubles_after_2000_finite_steps_and_an_inf_resets_the_count() {
        let (p, mut opt, mut s) = fixture(&[0.0f32]);
        let mut finite = |s: &mut GradScaler, n: usize| {
            for _ in 0..n {
                backward(s, &mut opt, &p, &[1e-3]);
                s.step(&mut opt).unwrap();
            }
        };
        finite(&mut s, 1999);
        assert_eq!(s.current_scale().unwrap(), 65536.0);
        finite(&mut s, 1);
        assert_eq!(s.current_scale().unwrap(), 131072.0);
        finite(&mut s, 1000);
        let mut opt2 = opt_over(&p);
        backward(&s, &mut opt2, &p, &[f32::INFINITY]);
        s.step(&mut opt2).unwrap();
        assert_eq!(s.current_scale().unwrap(), 65536.0);
        finite(&mut s, 1999);
        assert_eq!(
            s.current_scale().unwrap(),
            65536.0,
            "the count restarted at the inf"
        );
        finite(&mut s, 1);
        assert_eq!(s.current_scale().unwrap(), 131072.0);
    }

    #[test]
    fn state_round_trips() {
        let mut a = GradScaler::new(test_device());
        let _ = a.scale.fill_(1024.0);
        let _ = a.growth_tracker.fill_(17);
        let mut b = GradScaler::new(test_device());
        b.load_state_tensors(&a.state_tensors()).unwrap();
        assert_eq!(b.current_scale().unwrap(), 1024.0);
        assert_eq!(i64::try_from(&b.growth_tracker).unwrap(), 17);
    }
}
