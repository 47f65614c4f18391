//! The raw, versioned C ABI between `lt-train` (the host) and a plugin library.
//!
//! Everything here is `#[repr(C)]` and only uses C types, so the layout does not depend on the
//! Rust compiler version either side was built with. Plugin authors never touch this module: the
//! [`export_plugin!`](crate::export_plugin) macro builds the tables. The host reads them in
//! `lt_core::plugin`.
//!
//! # Loading protocol (version negotiation)
//! 1. The host resolves `lt_plugin_abi_version` and calls it before touching anything else. It
//!    returns the lowest version that carries every component the plugin exports: 1 when it has
//!    only samplers, losses on logits and heads, 2 when it has a feature loss or a model
//!    ([`v2`]). A host that does not speak that version stops with both numbers in the error.
//! 2. Version 1: the host resolves `lt_plugin_v1` and calls it once; it returns a pointer to a
//!    [`PluginV1`] table that stays valid (and immutable) for as long as the library is loaded.
//!    Version 2: the host resolves `lt_plugin_v2` instead, which returns a [`PluginV2`] whose
//!    first field is a version-1 table (with `abi_version` 2), followed by the new kinds.
//!
//! The version-1 layout is frozen (a test pins its size): a plugin built against the first SDK
//! loads unchanged, and a plugin of this SDK with only version-1 components loads into a
//! version-1 host too.
//!
//! # Ownership rules
//! * **Strings** ([`LtStr`]) are borrowed UTF-8 slices. Strings in the plugin table live as long as
//!   the library; strings passed as call arguments live for the duration of the call. Nobody frees
//!   a string across the boundary.
//! * **Tensor arguments** (`*mut c_void` pointing at libtorch's `at::Tensor`, i.e. tch's
//!   `C_tensor`) are *borrowed*: valid for the duration of the call, the callee must not free them.
//! * **Tensor results** (`out: *mut *mut c_void`, and tensors pushed into a [`LtTensorSink`]) are
//!   *owned by the receiver*: the plugin allocates a fresh handle (a shallow clone, sharing storage
//!   and autograd history), the host wraps it with `Tensor::from_ptr` and frees it by dropping.
//!   This is sound because both sides link the same libtorch shared library and are built with
//!   the same tch version ([`TCH_VERSION`] is compared at load time), so the `at::Tensor` object
//!   layout, `new`/`delete` and the reference counting are the same code on both sides.
//! * **Errors** are reported through an [`LtErr`] the host passes in: the plugin calls `set` with a
//!   borrowed message and returns [`LT_ERR`] or [`LT_PANIC`]; the host copies the message.
//! * **Component handles** are created by `create_*` and freed only by the matching `destroy`.

use std::ffi::c_void;

mod v2;
pub use v2::*;

/// The newest version of this ABI; the host loads every version in [`ABI_VERSIONS`]. Add a
/// version (and a table) on any change; never change a published table.
pub const ABI_VERSION: u32 = 2;
/// The first version: samplers, losses on logits and labels, classifier heads.
pub const ABI_V1: u32 = 1;
/// Every version a host of this SDK loads.
pub const ABI_VERSIONS: [u32; 2] = [ABI_V1, ABI_VERSION];
/// Symbol every plugin exports: `extern "C" fn() -> u32`.
pub const SYM_ABI_VERSION: &str = "lt_plugin_abi_version";
/// Symbol a version-1 plugin exports: `extern "C" fn() -> *const PluginV1`.
pub const SYM_PLUGIN_V1: &str = "lt_plugin_v1";
/// The tch minor version the SDK is built with. `at::Tensor` handles only cross safely between
/// libraries built against the same libtorch headers, so the host refuses a plugin whose value
/// differs. Kept equal to the workspace's `tch` requirement (a unit test checks it).
pub const TCH_VERSION: &str = "0.24";

/// Call status: success.
pub const LT_OK: i32 = 0;
/// Call status: the component returned an error; the message went to [`LtErr`].
pub const LT_ERR: i32 = 1;
/// Call status: the component panicked; the panic message went to [`LtErr`].
pub const LT_PANIC: i32 = 2;

/// Component kind numbers in [`LtComponent::kind`].
pub const KIND_SAMPLER: u32 = 0;
pub const KIND_LOSS: u32 = 1;
pub const KIND_HEAD: u32 = 2;

/// [`HeadV1::caps`] bit: the head wants `init_from_linear` with the stage-1 linear classifier.
pub const CAP_HEAD_LINEAR_INIT: u32 = 1;
/// [`HeadV1::caps`] bit: the head must be `fit` on (features, labels) before evaluation.
pub const CAP_HEAD_NEEDS_FIT: u32 = 2;

/// A borrowed UTF-8 string (not NUL-terminated). `ptr == null` means "absent".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LtStr {
    pub ptr: *const u8,
    pub len: usize,
}

impl LtStr {
    /// The absent string.
    pub const NONE: LtStr = LtStr {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrow a Rust string; the caller keeps `s` alive while the `LtStr` is used.
    pub fn new(s: &str) -> LtStr {
        LtStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// Read the string back; `None` if absent.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that outlive `'a`.
    pub unsafe fn get<'a>(self) -> Option<Result<&'a str, std::str::Utf8Error>> {
        if self.ptr.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(self.ptr, self.len);
        Some(std::str::from_utf8(bytes))
    }
}

/// Error sink owned by the host; the plugin calls `set` at most once per failed call.
#[repr(C)]
pub struct LtErr {
    pub ctx: *mut c_void,
    pub set: unsafe extern "C" fn(ctx: *mut c_void, msg: LtStr),
}

/// Host-owned growable `u32` buffer; the plugin may call `push` several times.
#[repr(C)]
pub struct LtU32Sink {
    pub ctx: *mut c_void,
    pub push: unsafe extern "C" fn(ctx: *mut c_void, data: *const u32, len: usize),
}

/// Host-owned list of named tensors. `tensor` is an owned handle transferred to the host.
#[repr(C)]
pub struct LtTensorSink {
    pub ctx: *mut c_void,
    pub push:
        unsafe extern "C" fn(ctx: *mut c_void, name: LtStr, tensor: *mut c_void, trainable: u8),
}

/// What a component knows about the training set when it is created.
#[repr(C)]
pub struct LtDatasetInfo {
    pub num_classes: u32,
    /// Width of the backbone's feature vector (0 when unknown, e.g. for a sampler).
    pub feature_dim: u32,
    /// Training images per class, `class_counts_len` entries (normally `num_classes`).
    pub class_counts: *const u64,
    pub class_counts_len: usize,
    pub seed: u64,
    /// -1 = CPU, n >= 0 = CUDA device n, -2 = MPS.
    pub device: i32,
}

/// Where training is when a loss is called; passed by pointer, read-only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCtx {
    /// Zero-based epoch within the current stage.
    pub epoch: u32,
    /// Number of epochs of the current stage.
    pub total_epochs: u32,
    /// 1 for the representation-learning stage, 2 for classifier re-training.
    pub stage: u32,
    /// Optimisation step counter within the stage.
    pub step: u64,
}

/// One entry of the plugin's component list.
#[repr(C)]
pub struct LtComponent {
    /// [`KIND_SAMPLER`], [`KIND_LOSS`] or [`KIND_HEAD`].
    pub kind: u32,
    pub name: LtStr,
    pub doc: LtStr,
}

/// Opaque component instance, owned by the plugin.
pub type Handle = *mut c_void;

/// Functions on a loss handle.
#[repr(C)]
pub struct LossV1 {
    /// `logits` [B,K] float, `targets` [B] int64 (borrowed) -> `*out` owned scalar loss.
    pub forward: unsafe extern "C" fn(
        h: Handle,
        logits: *mut c_void,
        targets: *mut c_void,
        ctx: *const StepCtx,
        out: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// Eval-time logit adjustment; `*out` stays null when the loss does not adjust.
    pub adjust_logits: unsafe extern "C" fn(
        h: Handle,
        logits: *mut c_void,
        out: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// Called by the host at the start of every epoch.
    pub on_epoch: unsafe extern "C" fn(h: Handle, ctx: *const StepCtx, err: *mut LtErr) -> i32,
    pub destroy: unsafe extern "C" fn(h: Handle),
}

/// Functions on a classifier-head handle.
#[repr(C)]
pub struct HeadV1 {
    /// `CAP_*` bits.
    pub caps: unsafe extern "C" fn(h: Handle) -> u32,
    /// `features` [B,D] (borrowed) -> `*out` owned logits [B,K]; `train` is 0 or 1.
    pub forward: unsafe extern "C" fn(
        h: Handle,
        features: *mut c_void,
        train: u8,
        out: *mut *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// Pushes every state tensor (parameters and buffers) as owned shallow clones.
    pub named_tensors:
        unsafe extern "C" fn(h: Handle, sink: *mut LtTensorSink, err: *mut LtErr) -> i32,
    /// `weight` [K,D], `bias` [K] or null (borrowed).
    pub init_from_linear: unsafe extern "C" fn(
        h: Handle,
        weight: *mut c_void,
        bias: *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    /// `features` [N,D], `labels` [N] int64 (borrowed).
    pub fit: unsafe extern "C" fn(
        h: Handle,
        features: *mut c_void,
        labels: *mut c_void,
        err: *mut LtErr,
    ) -> i32,
    pub destroy: unsafe extern "C" fn(h: Handle),
}

/// Functions on a sampler handle.
#[repr(C)]
pub struct SamplerV1 {
    /// Pushes the epoch's sample indices into `sink`.
    pub epoch_indices:
        unsafe extern "C" fn(h: Handle, epoch: u32, sink: *mut LtU32Sink, err: *mut LtErr) -> i32,
    pub destroy: unsafe extern "C" fn(h: Handle),
}

/// Constructor of a loss or head: component name, JSON config, dataset info.
pub type CreateFn = unsafe extern "C" fn(
    name: LtStr,
    config_json: LtStr,
    info: *const LtDatasetInfo,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32;

/// Constructor of a sampler: as [`CreateFn`] plus the training labels (borrowed).
pub type CreateSamplerFn = unsafe extern "C" fn(
    name: LtStr,
    config_json: LtStr,
    info: *const LtDatasetInfo,
    labels: *const u32,
    num_labels: usize,
    out: *mut Handle,
    err: *mut LtErr,
) -> i32;

/// The version-1 plugin table returned by `lt_plugin_v1`.
#[repr(C)]
pub struct PluginV1 {
    /// The version `lt_plugin_abi_version` returned (1, or 2 inside a [`PluginV2`]).
    pub abi_version: u32,
    /// `size_of::<PluginV1>()` in the plugin; must be at least the host's.
    pub size: usize,
    pub tch_version: LtStr,
    pub sdk_version: LtStr,
    pub name: LtStr,
    pub version: LtStr,
    pub description: LtStr,
    /// TOML text with default stage configs, or absent.
    pub recipe: LtStr,
    pub components: *const LtComponent,
    pub num_components: usize,
    pub create_loss: CreateFn,
    pub create_head: CreateFn,
    pub create_sampler: CreateSamplerFn,
    pub loss: LossV1,
    pub head: HeadV1,
    pub sampler: SamplerV1,
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_1_layout_is_frozen() {
        // A u32 (padded), a size, 6 strings of 16 bytes, a list pointer and length, 3
        // constructors, 4 + 6 + 2 functions: the layout the first SDK published. Changing it
        // breaks every version-1 plugin.
        assert_eq!(std::mem::size_of::<super::PluginV1>(), 248);
        assert_eq!(std::mem::size_of::<super::LtDatasetInfo>(), 40);
        assert_eq!(std::mem::size_of::<super::StepCtx>(), 24);
    }

    #[test]
    fn version_2_grows_only_at_the_end() {
        // Version 1's table, a size, 2 constructors, 6 feature-loss and 9 model functions as
        // first released; `model_ext` (3 functions) came after and is optional by `size`.
        assert_eq!(super::PLUGIN_V2_BASE_SIZE, 248 + 8 + 2 * 8 + 6 * 8 + 9 * 8);
        assert_eq!(std::mem::size_of::<super::PluginV2>(), 392 + 3 * 8);
    }

    #[test]
    fn tch_version_matches_workspace() {
        let ws = include_str!("../../../../Cargo.toml");
        let line = ws
            .lines()
            .find(|l| l.trim_start().starts_with("tch ="))
            .expect("workspace declares tch");
        assert!(
            line.contains(&format!("\"{}\"", super::TCH_VERSION)),
            "abi::TCH_VERSION {} does not match workspace line `{line}`",
            super::TCH_VERSION
        );
    }
}
