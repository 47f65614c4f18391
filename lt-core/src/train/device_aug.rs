//! The part of the augmentation that runs on the device when batches cross as uint8: for
//! CIFAR-style data the pad-crop and flip (drawn exactly as the host loader draws them for the
//! same seed, epoch and position), then normalisation to float NCHW. What must be done on the
//! host (JPEG decoding, random-resized-crop before resizing, colour jitter) stays in the loader.

use super::data::three;
use crate::config::AugmentOnDevice;
use crate::device::to_device;
use crate::{Error, Result};
use lt_data::augment::{Augment, Kind as AugKind, Params};
use lt_data::manifest::Manifest;
use lt_data::rng::streams;
use tch::{Device, Kind, Tensor};

/// Where a batch is finished: all on the host (float batches), or on the device.
pub(super) enum Finish {
    Host,
    Device(DeviceAug),
}

impl Finish {
    /// Where `setting` (`augment_on_device`) puts the end of the augmentation on `device`.
    pub fn choose(
        setting: AugmentOnDevice,
        device: Device,
        m: &Manifest,
        full: &Augment,
    ) -> Result<Finish> {
        let on = match setting {
            AugmentOnDevice::On => true,
            AugmentOnDevice::Off => false,
            AugmentOnDevice::Auto => device.is_cuda(),
        };
        Ok(if on {
            Finish::Device(DeviceAug::new(full.clone(), m, device)?)
        } else {
            Finish::Host
        })
    }
}

/// The device's share of an augmentation.
pub(super) struct DeviceAug {
    /// The whole augmentation, whose draws the device reproduces.
    full: Augment,
    /// Per-channel mean and std, shape [1, 3, 1, 1] (the first C are used).
    mean: Tensor,
    std: Tensor,
    device: Device,
}

impl DeviceAug {
    pub fn new(full: Augment, m: &Manifest, device: Device) -> Result<Self> {
        let t = |v: [f32; 3]| to_device(&v, &[1, 3, 1, 1], device);
        Ok(DeviceAug {
            full,
            mean: t(three(&m.mean)?)?,
            std: t(three(&m.std)?)?,
            device,
        })
    }

    /// A uint8 NHWC batch on the device, the host part done, as the normalised float NCHW
    /// batch the host would have produced; `first` is the epoch position of its first sample.
    pub fn finish(&self, x: &Tensor, seed: u64, epoch: u64, first: usize) -> Result<Tensor> {
        let x = self.crop_flip(x, seed, epoch, first)?;
        self.normalise(&x)
    }

    /// uint8 NCHW after the CIFAR pad-crop and flip (training), or as it came (everything else).
    pub fn crop_flip(&self, x: &Tensor, seed: u64, epoch: u64, first: usize) -> Result<Tensor> {
        let x = x.f_permute([0, 3, 1, 2])?;
        let AugKind::Cifar { pad } = self.full.kind else {
            return Ok(x);
        };
        if !self.full.train {
            return Ok(x);
        }
        let [n, c, h, w] = <[i64; 4]>::try_from(x.size()).map_err(|s| {
            Error::Usage(format!("device augmentation needs a 4-d batch, got {s:?}"))
        })?;
        let (mut rows, mut cols) = (Vec::new(), Vec::new());
        for i in 0..n as usize {
            let mut rng = streams::augment_sample(seed, epoch, first + i);
            let Params::Cifar { oy, ox, flip } = self.full.params(&mut rng, w as usize, h as usize)
            else {
                return Err(Error::Usage(
                    "cifar augmentation drew non-cifar parameters".into(),
                ));
            };
            rows.extend((0..h).map(|y| oy as i64 + y));
            cols.extend((0..w).map(|j| ox as i64 + if flip { w - 1 - j } else { j }));
        }
        let p = pad as i64;
        let padded = x.f_constant_pad_nd([p, p, p, p])?;
        let rows =
            to_device(&rows, &[n, 1, h, 1], self.device)?.f_expand([n, c, h, w + 2 * p], false)?;
        let cols = to_device(&cols, &[n, 1, 1, w], self.device)?.f_expand([n, c, h, w], false)?;
        Ok(padded
            .f_gather(2, &rows, false)?
            .f_gather(3, &cols, false)?)
    }

    /// `(x / 255 - mean) / std` per channel, in float32, as the host's lookup table computes it.
    pub fn normalise(&self, x: &Tensor) -> Result<Tensor> {
        let c = x.size()[1];
        let mean = self.mean.f_narrow(1, 0, c)?;
        let std = self.std.f_narrow(1, 0, c)?;
        Ok(x.f_to_kind(Kind::Float)?
            .f_div_scalar(255.0)?
            .f_sub(&mean)?
            .f_div(&std)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::batches::Transfer;
    use lt_data::format::{Layout, Reader, Writer};
    use lt_data::loader::{HeapAllocator, Loader, LoaderConfig};
    use lt_data::sampler::InstanceBalanced;
    use std::sync::Arc;

    /// A raw split of `n` random HxWxC images over 3 classes.
    fn split(dir: &std::path::Path, (h, w, c): (u32, u32, u32), n: usize) -> Arc<Reader> {
        let p = dir.join(format!("s{c}.ltd"));
        let layout = Layout::Raw {
            height: h,
            width: w,
            channels: c,
        };
        let mut wr = Writer::create(&p, layout, 3).unwrap();
        let mut x = 0x9E37_79B9u64;
        for i in 0..n {
            let px: Vec<u8> = (0..h * w * c)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 56) as u8
                })
                .collect();
            wr.push((i % 3) as u32, &px).unwrap();
        }
        wr.finish().unwrap();
        Arc::new(Reader::open(&p).unwrap())
    }

    fn manifest(channels: u32) -> Manifest {
        let (mean, std) = match channels {
            1 => (vec![0.2860], vec![0.3530]),
            _ => (vec![0.4914, 0.4822, 0.4465], vec![0.2023, 0.1994, 0.2010]),
        };
        Manifest {
            format_version: 2,
            created_by: "test".into(),
            dataset: "t".into(),
            source_dir: String::new(),
            num_classes: 3,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            profile: None,
            imbalance: None,
            seed: 0,
            compat: "native".into(),
            mean,
            std,
            augment: lt_data::augment::Pipeline::Cifar,
            model: "resnet32".into(),
            group_rule: Default::default(),
            groups: vec![],
            splits: Default::default(),
            coarse_of_class: None,
            coarse_names: None,
            source_checksums: Default::default(),
            skipped: vec![],
            missing_skipped: Default::default(),
            max_side: None,
            balanced_reference: None,
        }
    }

    fn loader(r: &Arc<Reader>, aug: Augment, batch: usize, seed: u64) -> Loader {
        loader_with(r, aug, batch, seed, Arc::new(HeapAllocator))
    }

    fn loader_with(
        r: &Arc<Reader>,
        aug: Augment,
        batch: usize,
        seed: u64,
        alloc: Arc<dyn lt_data::loader::Allocator>,
    ) -> Loader {
        let cfg = LoaderConfig {
            batch_size: batch,
            threads: 2,
            prefetch: 2,
            drop_last: false,
            aug,
            seed,
        };
        Loader::new(
            r.clone(),
            Box::new(InstanceBalanced::new(r.len(), 5)),
            cfg,
            alloc,
        )
        .unwrap()
    }

    /// The device path (uint8 batches, crop/flip/normalise on the device, here the CPU) against
    /// the host loader for the same seed: crop and flip exactly equal, normalised values within
    /// 1e-6, over two epochs with a short last batch, for 3- and 1-channel images.
    #[test]
    fn device_finish_gives_the_host_loaders_batches() {
        let t = tempfile::tempdir().unwrap();
        for shape in [(32, 32, 3), (28, 28, 1)] {
            let r = split(t.path(), shape, 45);
            let m = manifest(shape.2);
            let full = super::super::data::augment(&m, true).unwrap();
            let (batch, seed) = (16, 77);
            let device = crate::device::test_device();
            let transfer = Transfer {
                device,
                finish: Finish::choose(AugmentOnDevice::On, device, &m, &full).unwrap(),
                batch_size: batch,
                seed,
            };
            let Finish::Device(dev) = &transfer.finish else {
                panic!()
            };
            let mut host_f32 = loader(&r, full.clone(), batch, seed);
            let mut host_u8 = loader(&r, full.clone().uint8(), batch, seed);
            let host_part = super::super::data::host_part(&full);
            let mut dev_u8 = loader_with(&r, host_part, batch, seed, transfer.allocator());
            for epoch in 0..2u64 {
                let a: Vec<_> = host_f32.epoch(epoch).unwrap().map(|b| b.unwrap()).collect();
                let b: Vec<_> = host_u8.epoch(epoch).unwrap().map(|b| b.unwrap()).collect();
                let d: Vec<_> = transfer
                    .epoch(dev_u8.epoch(epoch).unwrap(), epoch)
                    .map(|b| b.unwrap())
                    .collect();
                assert_eq!((a.len(), d.len()), (3, 3));
                let mut raw = dev_u8.epoch(epoch).unwrap();
                for ((fa, ub), db) in a.iter().zip(&b).zip(&d) {
                    // Exact crop and flip: the device's uint8 NCHW against the host's uint8 NHWC.
                    let rb = raw.next().unwrap().unwrap();
                    let [n, h, w, c] = rb.shape.map(|v| v as i64);
                    let x = Tensor::from_slice(rb.images_u8().unwrap())
                        .reshape([n, h, w, c])
                        .to_device(device);
                    let cropped = dev
                        .crop_flip(&x, seed, epoch, rb.index * batch)
                        .unwrap()
                        .to_device(Device::Cpu);
                    let host = Tensor::from_slice(ub.images_u8().unwrap())
                        .reshape([n, h, w, c])
                        .permute([0, 3, 1, 2]);
                    assert!(
                        cropped.equal(&host),
                        "{shape:?} epoch {epoch} batch {}",
                        rb.index
                    );
                    // Normalised values within 1e-6 of the host's lookup table.
                    let hf = Tensor::from_slice(fa.images_f32().unwrap()).reshape(db.x.size());
                    let diff =
                        f64::try_from((db.x.to_device(Device::Cpu) - &hf).abs().max()).unwrap();
                    assert!(
                        diff <= 1e-6,
                        "{shape:?}: normalised values differ by {diff}"
                    );
                    assert_eq!(
                        Vec::<i64>::try_from(&db.y.to_device(Device::Cpu)).unwrap(),
                        fa.labels
                    );
                }
            }
        }
    }
}
