//! Device selection and host-to-device batch transfer.
use crate::{Error, Result};
use tch::{kind::Element, Device, Tensor};

/// Parses `--device`: `auto` (or empty: CUDA 0 when available, else CPU), `cpu`, `cuda`,
/// `cuda:N`. Asking for CUDA where there is none is an error rather than a silent CPU run.
pub fn select(requested: &str) -> Result<Device> {
    let r = requested.trim().to_ascii_lowercase();
    match r.as_str() {
        "" | "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        _ => {
            let unknown = || {
                Error::Device(format!(
                    "unknown device '{requested}' (use auto, cpu, cuda or cuda:N)"
                ))
            };
            let index = match r.strip_prefix("cuda") {
                Some("") => 0,
                Some(rest) => rest
                    .strip_prefix(':')
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(unknown)?,
                None => return Err(unknown()),
            };
            let n = tch::Cuda::device_count() as usize;
            if index >= n {
                return Err(Error::Device(format!(
                    "device '{requested}' requested but {n} CUDA device(s) are available"
                )));
            }
            Ok(Device::Cuda(index))
        }
    }
}

/// Makes a tensor of `shape` from a host buffer and moves it to `device`. On CUDA the
/// buffer is staged in pinned memory and copied with `non_blocking`, so the copy overlaps
/// with queued GPU work; on the CPU the result owns a copy of `data`.
pub fn to_device<T: Element>(data: &[T], shape: &[i64], device: Device) -> Result<Tensor> {
    let numel: i64 = shape.iter().product();
    if shape.iter().any(|&d| d < 0) || numel as usize != data.len() {
        return Err(Error::Usage(format!(
            "batch buffer of {} elements does not fit shape {shape:?}",
            data.len()
        )));
    }
    host_to_device(&Tensor::f_from_slice(data)?.f_reshape(shape)?, device)
}

/// A host tensor on `device`: staged in pinned memory and copied with `non_blocking` on CUDA
/// (a pageable copy would make the host wait for the device); the tensor itself on the CPU.
pub fn host_to_device(host: &Tensor, device: Device) -> Result<Tensor> {
    match device {
        Device::Cuda(_) => {
            let pinned = host.f_pin_memory(device)?;
            Ok(pinned.f_to_device_(device, host.kind(), true, false)?)
        }
        _ => Ok(host.f_to_device(device)?),
    }
}

/// The device the unit tests run on: CUDA when there is one, else the CPU. With
/// `LT_TEST_DEVICE=cuda` (scripts/gpu-check.sh) a missing CUDA device fails the test instead.
#[cfg(test)]
pub(crate) fn test_device() -> Device {
    let d = Device::cuda_if_available();
    if std::env::var("LT_TEST_DEVICE").as_deref() == Ok("cuda") {
        assert!(
            d.is_cuda(),
            "LT_TEST_DEVICE=cuda but no CUDA device is available"
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_parses_names() {
        assert_eq!(select("cpu").unwrap(), Device::Cpu);
        assert_eq!(select(" CPU ").unwrap(), Device::Cpu);
        assert_eq!(select("auto").unwrap(), Device::cuda_if_available());
        assert!(select("tpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device 'tpu'"));
        assert!(select("cuda:x").is_err());
        if !tch::Cuda::is_available() {
            assert!(select("cuda")
                .unwrap_err()
                .to_string()
                .contains("0 CUDA device"));
        } else {
            assert_eq!(select("cuda").unwrap(), Device::Cuda(0));
        }
    }

    #[test]
    fn host_buffer_round_trip() {
        let data: Vec<u8> = (0..24).collect();
        let dev = Device::cuda_if_available();
        let t = to_device(&data, &[2, 3, 2, 2], dev).unwrap();
        assert_eq!(t.size(), [2, 3, 2, 2]);
        assert_eq!(t.device(), dev);
        let back = Vec::<u8>::try_from(t.to_device(Device::Cpu).flatten(0, -1)).unwrap();
        assert_eq!(back, data);
        assert!(to_device(&data, &[5, 5], Device::Cpu).is_err());
    }
}
