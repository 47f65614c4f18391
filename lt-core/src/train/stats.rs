//! An epoch's training statistics, kept on the device: the loss sum, the correct count, the
//! non-finite losses and the steps the gradient scaler skipped accumulate in one small tensor
//! inside the step, and are read back to the host only when asked (every N steps and at the end
//! of the epoch), one copy for all of them. A read is the only point where the host waits for
//! the device, so reads are counted.

use crate::Result;
use tch::{Device, Kind, Tensor};

/// What a read returns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Snapshot {
    /// Sum over trained images of their batch's loss (finite losses only).
    pub loss_sum: f64,
    pub correct: f64,
    /// Steps whose loss was inf or NaN.
    pub nonfinite: f64,
    /// Steps the gradient scaler skipped (inf/NaN gradients under fp16).
    pub skipped: f64,
    /// Images trained.
    pub seen: usize,
}

pub(super) struct DeviceStats {
    /// float64 [4]: loss sum, correct, non-finite losses, skipped steps.
    sums: Tensor,
    seen: usize,
    reads: usize,
}

impl DeviceStats {
    pub fn new(device: Device) -> Self {
        DeviceStats {
            sums: Tensor::zeros([4], (Kind::Double, device)),
            seen: 0,
            reads: 0,
        }
    }

    /// Adds one step: its mean loss over `n` images, the logits and the labels, and the
    /// scaler's inf flag of the step when there is one.
    pub fn add(
        &mut self,
        loss: &Tensor,
        logits: &Tensor,
        y: &Tensor,
        n: usize,
        skipped: Option<&Tensor>,
    ) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            let l = loss.f_detach()?.f_to_kind(Kind::Double)?.f_reshape([1])?;
            let finite = l.f_isfinite()?;
            let zero = l.f_zeros_like()?;
            let loss_n = l.f_where_self(&finite, &zero)?.f_mul_scalar(n as f64)?;
            let correct = logits
                .f_argmax(-1, false)?
                .f_eq_tensor(y)?
                .f_sum(Kind::Double)?
                .f_reshape([1])?;
            let bad = finite.f_logical_not()?.f_to_kind(Kind::Double)?;
            let skip = match skipped {
                Some(f) => f.f_to_kind(Kind::Double)?.f_reshape([1])?,
                None => zero,
            };
            let _ = self
                .sums
                .f_add_(&Tensor::f_cat(&[loss_n, correct, bad, skip], 0)?)?;
            Ok(())
        })?;
        self.seen += n;
        Ok(())
    }

    /// Copies the sums to the host (the one place the host waits for the device).
    pub fn read(&mut self) -> Result<Snapshot> {
        self.reads += 1;
        let v = Vec::<f64>::try_from(self.sums.f_to_device(Device::Cpu)?)?;
        Ok(Snapshot {
            loss_sum: v[0],
            correct: v[1],
            nonfinite: v[2],
            skipped: v[3],
            seen: self.seen,
        })
    }

    /// Reads so far.
    pub fn reads(&self) -> usize {
        self.reads
    }
}

/// When the epoch reads its statistics: every `n` steps, or (auto) when a second has passed
/// since the last read, which keeps a progress bar alive without stalling a fast device.
pub(super) enum ReadEvery {
    Steps(usize),
    Second(std::time::Instant),
}

impl ReadEvery {
    /// `sync_every` of the configuration: N steps, or 0 for about once a second.
    pub fn new(steps: usize) -> Self {
        match steps {
            0 => ReadEvery::Second(std::time::Instant::now()),
            n => ReadEvery::Steps(n),
        }
    }

    /// Whether to read after step `i` (0-based) of the epoch.
    pub fn due(&mut self, i: usize) -> bool {
        match self {
            ReadEvery::Steps(n) => (i + 1).is_multiple_of(*n),
            ReadEvery::Second(last) => {
                let due = last.elapsed().as_secs_f64() >= 1.0;
                if due {
                    *last = std::time::Instant::now();
                }
                due
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_steps_and_counts_reads() {
        let mut s = DeviceStats::new(Device::Cpu);
        let logits = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 3.0]).reshape([2, 2]);
        let y = Tensor::from_slice(&[0i64, 0]);
        s.add(&Tensor::from(0.5f32), &logits, &y, 2, None).unwrap();
        s.add(
            &Tensor::from(f32::NAN),
            &logits,
            &y,
            2,
            Some(&Tensor::from_slice(&[1.0f32])),
        )
        .unwrap();
        let r = s.read().unwrap();
        assert_eq!(
            r,
            Snapshot {
                loss_sum: 1.0,
                correct: 2.0,
                nonfinite: 1.0,
                skipped: 1.0,
                seen: 4
            }
        );
        assert_eq!(s.reads(), 1);
        let mut every = ReadEvery::new(3);
        let due: Vec<usize> = (0..10).filter(|&i| every.due(i)).collect();
        assert_eq!(due, [2, 5, 8]);
    }
}
