//! Fixtures the head tests share: datasets, configs, a stage-1 classifier.

use lt_plugin::tch::Tensor;
use lt_plugin::{Config, DatasetInfo};

pub fn info(k: usize, d: usize) -> DatasetInfo {
    DatasetInfo::for_test(vec![10; k]).with_feature_dim(d)
}
pub fn cfg(j: &str) -> Config {
    Config::from_json(j).unwrap()
}
pub fn t(v: &[f32], shape: [i64; 2]) -> Tensor {
    Tensor::from_slice(v).reshape(shape)
}
pub fn stage1() -> (Tensor, Tensor) {
    (
        t(&[3.0, 4.0, 0.0, 1.0, -2.0, 2.0], [3, 2]),
        Tensor::from_slice(&[0.5f32, -0.5, 1.0]),
    )
}
/// Two feature rows of width 2, (1, 2) and (-1, 0.5), to run [`stage1`] heads on.
pub fn two_features() -> Tensor {
    t(&[1.0, 2.0, -1.0, 0.5], [2, 2])
}
/// What the [`stage1`] classifier itself gives for `x`: `x W^T`, plus `b` when `with_bias`.
pub fn stage1_logits(x: &Tensor, with_bias: bool) -> Tensor {
    let (w, b) = stage1();
    let z = x.matmul(&w.tr());
    if with_bias {
        z + b
    } else {
        z
    }
}
pub fn close(a: &Tensor, b: &Tensor) -> bool {
    a.allclose(b, 1e-5, 1e-6, false)
}
