//! What a component knows about the training set when it is created, and a fixture of it for
//! unit tests.

use tch::{Device, Tensor};

/// The dataset facts the host passes to every constructor.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub num_classes: usize,
    /// Training images per class, in label order.
    pub class_counts: Vec<u64>,
    /// Width of the backbone's feature vector; 0 when unknown (samplers, losses).
    pub feature_dim: usize,
    pub seed: u64,
    /// Where the component's own tensors (head parameters, class weights) should live.
    pub device: Device,
}

impl DatasetInfo {
    /// Class counts as a float tensor [K] on `self.device`, the usual starting point of
    /// re-weighting and margin formulas.
    pub fn class_counts_tensor(&self) -> Tensor {
        let v: Vec<f64> = self.class_counts.iter().map(|&c| c as f64).collect();
        Tensor::from_slice(&v)
            .to_kind(tch::Kind::Float)
            .to_device(self.device)
    }

    /// A dataset for unit tests: one class per entry of `class_counts`, no feature width, seed 0,
    /// on the CPU. Chain [`DatasetInfo::with_feature_dim`] or [`DatasetInfo::with_seed`] to vary
    /// it.
    ///
    /// ```
    /// let d = lt_plugin::DatasetInfo::for_test(vec![50, 10, 2]).with_feature_dim(4);
    /// assert_eq!((d.num_classes, d.feature_dim, d.seed), (3, 4, 0));
    /// ```
    pub fn for_test(class_counts: Vec<u64>) -> DatasetInfo {
        DatasetInfo {
            num_classes: class_counts.len(),
            class_counts,
            feature_dim: 0,
            seed: 0,
            device: Device::Cpu,
        }
    }

    /// The same dataset with backbone features `feature_dim` wide.
    pub fn with_feature_dim(mut self, feature_dim: usize) -> DatasetInfo {
        self.feature_dim = feature_dim;
        self
    }

    /// The same dataset with another seed.
    pub fn with_seed(mut self, seed: u64) -> DatasetInfo {
        self.seed = seed;
        self
    }
}
