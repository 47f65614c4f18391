//! Version 2 of the ABI: what version 1 has, plus two component kinds.
//!
//! * A **feature loss** ([`KIND_FEATURE_LOSS`]) sees more than logits and labels: the pooled
//!   features, the built-in head's weight, each expert's logits, the labels of a second sampler's
//!   batch, the features and logits of a second augmented view ([`LtLossArgs`]). It says what it
//!   needs with `CAP_LOSS_*` bits; the host provides exactly that and refuses a stage that cannot.
//!   It may own trainable tensors (a projection head), which train and go into checkpoints.
//! * A **model** ([`KIND_MODEL`]) puts several branches (experts) on a shared trunk: the host
//!   builds `branches` copies of the backbone's last stage, and the model maps each branch's
//!   pooled features to that branch's logits and to the logits the loss and the evaluation see
//!   (its aggregation). It owns its tensors (the branch classifiers, aggregation weights), and
//!   may adapt on unlabelled test images before evaluation ([`CAP_MODEL_TEST_ADAPT`]).
//!
//! Ownership follows the module docs of [`crate::abi`]: argument tensors and arrays of them are
//! borrowed for the call, result tensors are owned by the host.

use super::{CreateFn, Handle, LtErr, LtTensorSink, PluginV1, StepCtx};
use std::ffi::c_void;

/// Symbol a version-2 plugin exports: `extern "C" fn() -> *const PluginV2`.
pub const SYM_PLUGIN_V2: &str = "lt_plugin_v2";

/// Component kind number of a feature loss in [`super::LtComponent::kind`].
pub const KIND_FEATURE_LOSS: u32 = 3;
/// Component kind number of a model (branches on a shared trunk).
pub const KIND_MODEL: u32 = 4;

/// [`FeatureLossV2::caps`] bit: `features` [B,D], the pooled backbone features of the batch.
pub const CAP_LOSS_FEATURES: u32 = 1;
/// Bit: `head_weight` [K,D], the built-in linear classifier's weight.
pub const CAP_LOSS_HEAD_WEIGHT: u32 = 2;
/// Bit: `experts`, each branch's logits [B,K] (the stage needs a model).
pub const CAP_LOSS_EXPERTS: u32 = 4;
/// Bit: `targets2` [B], the labels of the batch the stage's second sampler drew.
pub const CAP_LOSS_SECOND_BATCH: u32 = 8;
/// Bit: `features2` [B,D] and `logits2` [B,K] of a second augmented view of each image.
pub const CAP_LOSS_TWO_VIEWS: u32 = 16;
/// Every loss capability bit this version defines; others are refused at load.
pub const CAP_LOSS_ALL: u32 = 31;

/// [`ModelV2::caps`] bit: the model adapts on unlabelled test images before evaluation.
pub const CAP_MODEL_TEST_ADAPT: u32 = 1;
/// Bit: in training the host calls [`ModelExtV2::forward_train`] with the batch's labels,
/// and adds the loss term it returns to the stage's loss (RIDE's router). Needs a table with
/// [`PluginV2::model_ext`].
pub const CAP_MODEL_TRAIN_LABELS: u32 = 2;
/// Every model capability bit this version defines.
pub const CAP_MODEL_ALL: u32 = 3;

/// The arguments of a feature loss; tensors the loss did not ask for are null.
#[repr(C)]
pub struct LtLossArgs {
    /// [B,K] float: what the model outputs in training (a model's aggregation).
    pub logits: *mut c_void,
    /// [B] int64.
    pub targets: *mut c_void,
    pub features: *mut c_void,
    pub head_weight: *mut c_void,
    /// `num_experts` borrowed handles, each [B,K].
    pub experts: *const *mut c_void,
    pub num_experts: usize,
    pub targets2: *mut c_void,
    pub features2: *mut c_void,
    pub logits2: *mut c_void,
}

/// Functions on a feature-loss handle.
#[repr(C)]
pub struct FeatureLossV2 {
    /// `CAP_LOSS_*` bits.
    pub caps: unsafe extern "C" fn(h: Handle) -> u32,
    /// `args` (borrowed) -> `*out` owned scalar loss.
    pub forward: unsafe extern "C" fn(
        h: Handle,
        args: *const LtLossArgs,
        ctx: *const StepCtx,
        out: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// As [`super::LossV1::adjust_logits`].
    pub adjust_logits: unsafe extern "C" fn(
        h: Handle,
        logits: *mut c_void,
        out: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    pub on_epoch: unsafe extern "C" fn(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32,
    /// The loss's own state tensors (as [`super::HeadV1::named_tensors`]); often none.
    pub named_tensors:
        unsafe extern "C" fn(h: Handle, sink: *mut LtTensorSink, err: *mut LtErr) -> i32,
    pub destroy: unsafe extern "C" fn(h: Handle),
}

/// Functions on a model handle.
#[repr(C)]
pub struct ModelV2 {
    /// `CAP_MODEL_*` bits.
    pub caps: unsafe extern "C" fn(h: Handle) -> u32,
    /// How many branches the host builds on the trunk; at least 1.
    pub branches: unsafe extern "C" fn(h: Handle) -> u32,
    /// `features`: `n` borrowed handles, branch i's pooled features [B,D]. `*out` gets the owned
    /// logits [B,K] (training output, or the evaluation's aggregation when `train` is 0), and
    /// `experts` one owned [B,K] tensor per branch.
    pub forward: unsafe extern "C" fn(
        h: Handle,
        features: *const *mut c_void,
        n: usize,
        train: u8,
        ctx: *const StepCtx,
        out: *mut *mut c_void,
        experts: *mut LtTensorSink,
        err: *mut LtErr,
    ) -> i32,
    pub named_tensors:
        unsafe extern "C" fn(h: Handle, sink: *mut LtTensorSink, err: *mut LtErr) -> i32,
    pub on_epoch: unsafe extern "C" fn(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32,
    /// Passes over the test images the adaptation wants (0 when it does not adapt).
    pub adapt_epochs: unsafe extern "C" fn(h: Handle) -> u32,
    /// Starts a test-time adaptation afresh (before each evaluated split).
    pub adapt_begin: unsafe extern "C" fn(h: Handle, err: *mut LtErr) -> i32,
    /// One batch of unlabelled test images: each branch's logits [B,K] for two augmented views
    /// (`n` borrowed handles each, computed without gradients).
    pub adapt: unsafe extern "C" fn(
        h: Handle,
        view1: *const *mut c_void,
        view2: *const *mut c_void,
        n: usize,
        err: *mut LtErr,
    ) -> i32,
    pub destroy: unsafe extern "C" fn(h: Handle),
}

/// Model functions added to version 2 after its first release (with RIDE's router):
/// stage-aware training, a training forward that sees the labels, an evaluation forward that
/// says how many branches each image used. A table whose `size` stops before them (an older
/// SDK's) still loads; its models get none of these calls.
#[repr(C)]
pub struct ModelExtV2 {
    /// Called when a stage starts, before the host asks which tensors train
    /// (`named_tensors`): the model may change that per stage (train the experts in stage 1,
    /// only the router in stage 2).
    pub begin_stage: unsafe extern "C" fn(h: Handle, stage: u32, err: *mut LtErr) -> i32,
    /// The training forward of a model with [`CAP_MODEL_TRAIN_LABELS`]: as
    /// [`ModelV2::forward`] with `train` = 1, plus the batch's labels `targets` [B] int64
    /// (borrowed). `*loss` gets an owned scalar the host adds to the stage's loss, or stays null.
    pub forward_train: unsafe extern "C" fn(
        h: Handle,
        features: *const *mut c_void,
        n: usize,
        targets: *mut c_void,
        ctx: *const StepCtx,
        out: *mut *mut c_void,
        experts: *mut LtTensorSink,
        loss: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// The evaluation forward: as [`ModelV2::forward`] with `train` = 0, plus `*used` an owned
    /// int64 [B] tensor, how many branches each image used (a router's count), or null when
    /// every image used all of them.
    pub forward_eval: unsafe extern "C" fn(
        h: Handle,
        features: *const *mut c_void,
        n: usize,
        ctx: *const StepCtx,
        out: *mut *mut c_void,
        experts: *mut LtTensorSink,
        used: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
}

/// The version-2 plugin table returned by `lt_plugin_v2`.
#[repr(C)]
pub struct PluginV2 {
    /// Everything version 1 has, with `v1.abi_version == 2`.
    pub v1: PluginV1,
    /// `size_of::<PluginV2>()` in the plugin: at least [`PLUGIN_V2_BASE_SIZE`]; fields past
    /// what it covers are absent.
    pub size: usize,
    pub create_feature_loss: CreateFn,
    pub create_model: CreateFn,
    pub feature_loss: FeatureLossV2,
    pub model: ModelV2,
    /// Present when `size` is at least `size_of::<PluginV2>()`.
    pub model_ext: ModelExtV2,
}

/// The size of the version-2 table as first released (everything before `model_ext`): the
/// least a version-2 plugin may declare.
pub const PLUGIN_V2_BASE_SIZE: usize = std::mem::offset_of!(PluginV2, model_ext);

impl PluginV2 {
    /// Whether the table carries [`PluginV2::model_ext`] (its `size` covers it).
    pub fn has_model_ext(&self) -> bool {
        self.size >= std::mem::size_of::<PluginV2>()
    }
}
