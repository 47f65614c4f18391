//! safetensors files through the `safetensors` crate (tch's reader and writer have no
//! `__metadata__`): tensors of any dtype libtorch has, and the string-to-string metadata map.

use super::WeightsError;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// A safetensors file read into CPU tensors, in the file's key order (sorted).
pub struct StFile {
    pub tensors: Vec<(String, Tensor)>,
    pub metadata: HashMap<String, String>,
}

/// Reads a whole safetensors file; a file that is not one is [`WeightsError::Corrupt`].
pub fn read(path: &Path) -> Result<StFile, WeightsError> {
    let bytes = std::fs::read(path).map_err(|err| WeightsError::Io {
        path: path.to_path_buf(),
        err,
    })?;
    let corrupt = |reason: String| WeightsError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(format!("{e:?}")))?;
    let mut tensors = Vec::with_capacity(st.len());
    for (name, view) in st.tensors() {
        let t = to_tensor(&view).map_err(|reason| corrupt(format!("tensor '{name}': {reason}")))?;
        tensors.push((name, t));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(StFile {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

fn to_tensor(v: &TensorView) -> Result<Tensor, String> {
    let kind = kind_of(v.dtype()).ok_or_else(|| format!("{:?} has no libtorch type", v.dtype()))?;
    let shape: Vec<i64> = v.shape().iter().map(|&d| d as i64).collect();
    Tensor::f_from_data_size(v.data(), &shape, kind).map_err(|e| e.to_string())
}

fn kind_of(d: Dtype) -> Option<Kind> {
    Some(match d {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

fn dtype_of(k: Kind) -> Option<Dtype> {
    Some(match k {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

/// One tensor's bytes, ready for the writer.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn owned(name: &str, t: &Tensor) -> crate::Result<Owned> {
    let t = tch::no_grad(|| -> crate::Result<Tensor> {
        Ok(t.f_detach()?.f_to_device(Device::Cpu)?.f_contiguous()?)
    })
    .map_err(|e| e.on_tensor(name))?;
    let dtype = dtype_of(t.kind()).ok_or_else(|| {
        crate::Error::Usage(format!("{name}: {:?} has no safetensors type", t.kind()))
    })?;
    let numel = t.numel();
    let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
    t.f_copy_data_u8(&mut data, numel)
        .map_err(|e| crate::Error::from(e).on_tensor(name))?;
    let shape = t.size().iter().map(|&d| d as usize).collect();
    Ok(Owned { dtype, shape, data })
}

/// The bytes of a safetensors file holding `tensors` (any device, any layout) and `metadata`.
pub fn encode(
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> crate::Result<Vec<u8>> {
    let owned: Vec<(String, Owned)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), owned(n, t)?)))
        .collect::<crate::Result<_>>()?;
    let views = owned.iter().map(|(n, o)| (n.as_str(), o));
    safetensors::serialize(views, &Some(metadata))
        .map_err(|e| crate::Error::Usage(format!("encoding safetensors: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_dtypes_shapes_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let a = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 4.0])
            .view([2, 2])
            .tr();
        let n = Tensor::scalar_tensor(7.0, (Kind::Int64, Device::Cpu));
        let h = Tensor::from_slice(&[0.5f64]).to_kind(Kind::Half);
        let tensors = vec![
            ("a".into(), a.shallow_clone()),
            ("n".into(), n),
            ("h".into(), h),
        ];
        let meta = HashMap::from([("arch".to_string(), "resnet18".to_string())]);
        std::fs::write(&p, encode(&tensors, meta.clone()).unwrap()).unwrap();
        let f = read(&p).unwrap();
        assert_eq!(f.metadata, meta);
        let names: Vec<&str> = f.tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "h", "n"]);
        assert!(f.tensors[0].1.equal(&a));
        assert_eq!(f.tensors[1].1.kind(), Kind::Half);
        assert_eq!(f.tensors[2].1.size(), Vec::<i64>::new());
        assert_eq!(f.tensors[2].1.int64_value(&[]), 7);
        std::fs::write(&p, b"\x10\0\0\0\0\0\0\0{\"a\":").unwrap();
        let e = read(&p).err().unwrap().to_string();
        assert!(
            e.contains("w.safetensors: not a readable safetensors file"),
            "{e}"
        );
    }
}
