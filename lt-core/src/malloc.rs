//! glibc malloc settings for training processes (found by comparing `lt-train bench` with
//! PyTorch eager: the same oneDNN kernels, ten times the page faults).

/// Largest size glibc accepts for `M_MMAP_THRESHOLD` on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory glibc may keep at the top of its heap before giving it back to the kernel.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Makes glibc malloc keep the memory libtorch frees instead of returning it to the kernel
/// after every training step. Returns whether both settings took (false off glibc).
///
/// glibc serves blocks under its mmap threshold from the heap and gives the heap's free top back
/// (`brk`) once it exceeds the trim threshold; both start at 128 KiB and only grow when a block
/// that was mmap'ed is freed, to that block's size (trim: twice that). In a Rust binary the first
/// such block is the first activation, so the thresholds stay at one activation's size, the
/// activations freed at the end of each step are trimmed, and the next step page-faults (and
/// zero-fills) all of them again: at batch 8 about 2,600 faults and ~40 `brk` calls per step
/// against ~190 faults and ~1.5 `brk` for the same step in `python` (whose import history has
/// already raised the thresholds). Fixing them (`mallopt`) turns the dynamic adjustment off;
/// blocks up to [`MMAP_THRESHOLD`] come from the heap and up to [`TRIM_THRESHOLD`] of free heap
/// top is kept, as PyTorch's caching allocators keep memory on the GPU. Blocks above 32 MiB are
/// still mmap'ed per allocation, as in PyTorch. Process-wide: call it once, early (`lt-train`
/// does at start-up).
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::c_int;
        // glibc's malloc.h.
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // SAFETY: mallopt only sets allocator parameters; both values are in range.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD as c_int) == 1
                && mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD as c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
