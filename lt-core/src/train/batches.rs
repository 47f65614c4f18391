//! Loader batches on their way to the device. On CUDA the loader writes straight into pinned
//! host buffers (its `Allocator`), each batch crosses in one non-blocking copy on a copy stream,
//! and the next batch's copy is issued before the current batch is handed to the step, so the
//! copy overlaps the step; the compute stream waits on the copy's event, never the host. Batches
//! that cross as uint8 are finished on the device (`device_aug`). On the CPU the batch is one
//! copy out of the loader's buffer.

use super::device_aug::Finish;
use crate::cuda;
use crate::device::{host_to_device, to_device};
use crate::Result;
use lt_data::loader::{Allocator, Batch, EpochIter, HeapAllocator, Storage};
use std::any::Any;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// A batch on the device: normalised float NCHW images and int64 labels.
pub(super) struct DeviceBatch {
    pub x: Tensor,
    pub y: Tensor,
    pub n: usize,
}

/// How a loader's batches reach the device.
pub(super) struct Transfer {
    pub device: Device,
    pub finish: Finish,
    /// The loader's batch size and augmentation seed: with a batch's index they give each
    /// sample's position, from which the device redraws the host's crop and flip.
    pub batch_size: usize,
    pub seed: u64,
}

impl Transfer {
    /// The allocator the loader should fill: pinned memory for CUDA, the heap otherwise.
    pub fn allocator(&self) -> Arc<dyn Allocator> {
        match self.device {
            Device::Cuda(_) => Arc::new(PinnedAllocator {
                device: self.device,
            }),
            _ => Arc::new(HeapAllocator),
        }
    }

    /// Starts moving `b` to the device (asynchronously on CUDA); [`Pending::ready`] hands it
    /// out once the compute stream is made to wait for the copy.
    fn start(&self, b: Batch) -> Result<Pending> {
        let [n, d1, d2, d3] = b.shape.map(|d| d as i64);
        let (kind, elem) = match b.dtype {
            lt_data::augment::Dtype::F32Nchw => (Kind::Float, 4),
            lt_data::augment::Dtype::U8Nhwc => (Kind::Uint8, 1),
        };
        let pinned = pinned(&b);
        let host = match &pinned {
            Some(t) => t.f_narrow(0, 0, n * d1 * d2 * d3 * elem)?,
            None => Tensor::f_from_slice(b.image_bytes())?,
        };
        let host = host.f_view_dtype(kind)?.f_reshape([n, d1, d2, d3])?;
        let (x, copy) = match (self.device, pinned.is_some()) {
            (Device::Cuda(i), true) => {
                let (x, ev) = cuda::upload(&host, i)?;
                (x, Some(ev))
            }
            _ => (host_to_device(&host, self.device)?, None),
        };
        let y = to_device(&b.labels, &[n], self.device)?;
        Ok(Pending {
            x,
            y,
            copy,
            host: Some(b),
        })
    }

    /// The batch finished for the step.
    fn finish(&self, p: Pending, index: usize, epoch: u64) -> Result<DeviceBatch> {
        let n = p.x.size()[0] as usize;
        let x = match &self.finish {
            Finish::Host => p.x,
            Finish::Device(aug) => aug.finish(&p.x, self.seed, epoch, index * self.batch_size)?,
        };
        Ok(DeviceBatch { x, y: p.y, n })
    }

    /// An epoch's batches, each copied one step ahead of its use.
    pub fn epoch<'a>(&'a self, it: EpochIter, epoch: u64) -> Prefetch<'a> {
        Prefetch {
            it,
            t: self,
            epoch,
            ahead: None,
            waited: std::time::Duration::ZERO,
        }
    }
}

/// A batch whose copy may still be in flight; its host buffer is held until the copy is done.
struct Pending {
    x: Tensor,
    y: Tensor,
    copy: Option<cuda::Event>,
    host: Option<Batch>,
}

impl Pending {
    /// Makes the compute stream wait for the copy (no host wait), then lets the loader reuse
    /// the host buffer once the copy has finished.
    fn ready(mut self) -> Result<Pending> {
        if let Some(ev) = &self.copy {
            ev.block_current()?;
            ev.wait_host()?;
        }
        self.host = None;
        Ok(self)
    }
}

/// Batches of one epoch on the device, the next one's copy in flight during the current step.
pub(super) struct Prefetch<'a> {
    it: EpochIter,
    t: &'a Transfer,
    epoch: u64,
    ahead: Option<(usize, Pending)>,
    /// Time spent waiting for the loader.
    waited: std::time::Duration,
}

impl Prefetch<'_> {
    /// How long the consumer waited for the loader's batches so far.
    pub fn waited(&self) -> std::time::Duration {
        self.waited
    }

    fn pull(&mut self) -> Option<Result<(usize, Pending)>> {
        let t0 = std::time::Instant::now();
        let next = self.it.next();
        self.waited += t0.elapsed();
        let b = match next? {
            Ok(b) => b,
            Err(e) => return Some(Err(e.into())),
        };
        let index = b.index;
        Some(self.t.start(b).map(|p| (index, p)))
    }
}

impl Iterator for Prefetch<'_> {
    type Item = Result<DeviceBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        let current = match self.ahead.take() {
            Some(c) => c,
            None => match self.pull()? {
                Ok(c) => c,
                Err(e) => return Some(Err(e)),
            },
        };
        let out = current
            .1
            .ready()
            .and_then(|p| self.t.finish(p, current.0, self.epoch));
        // The next copy goes out before this batch's step is queued.
        match self.pull() {
            Some(Ok(c)) => self.ahead = Some(c),
            Some(Err(e)) => return Some(out.and(Err(e))),
            None => {}
        }
        Some(out)
    }
}

/// Pinned host memory for CUDA uploads: a pinned uint8 tensor per buffer.
struct PinnedAllocator {
    device: Device,
}

struct PinnedStorage {
    tensor: Tensor,
    bytes: usize,
}

// The tensor is only touched through `bytes`/`bytes_mut` by one owner at a time (the loader's
// pool hands each buffer to one batch).
unsafe impl Send for PinnedStorage {}
unsafe impl Sync for PinnedStorage {}

impl Storage for PinnedStorage {
    fn bytes(&self) -> &[u8] {
        // SAFETY: a contiguous CPU uint8 tensor of `bytes` elements, alive as long as self.
        unsafe { std::slice::from_raw_parts(self.tensor.data_ptr() as *const u8, self.bytes) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.tensor.data_ptr() as *mut u8, self.bytes) }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Allocator for PinnedAllocator {
    fn allocate(&self, bytes: usize) -> lt_data::Result<Box<dyn Storage>> {
        let t = Tensor::f_empty([bytes.max(4) as i64], (Kind::Uint8, Device::Cpu))
            .and_then(|t| t.f_pin_memory(self.device))
            .map_err(|e| {
                lt_data::Error::invalid(format!(
                    "cannot allocate {bytes} bytes of pinned memory: {e}"
                ))
            })?;
        Ok(Box::new(PinnedStorage { tensor: t, bytes }))
    }
}

/// The pinned tensor behind a batch, when its loader filled pinned memory.
fn pinned(b: &Batch) -> Option<Tensor> {
    b.storage()
        .as_any()
        .downcast_ref::<PinnedStorage>()
        .map(|s| s.tensor.shallow_clone())
}
