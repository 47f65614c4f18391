// Internal declarations shared by the c10d shim's translation units.
// The C ABI used from Rust is documented in lt_dist.cpp (extern "C" block).
#pragma once

#include <chrono>

#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace lt_dist {

// Builds a ProcessGroupNCCL on `store` (already prefixed). Defined in lt_dist_nccl.cpp, which
// is compiled only when the torch headers/libs provide NCCL (LT_DIST_HAVE_NCCL).
c10::intrusive_ptr<c10d::Backend> make_nccl(
    const c10::intrusive_ptr<c10d::Store>& store,
    int rank,
    int size,
    std::chrono::milliseconds timeout);

} // namespace lt_dist
