// NCCL backend constructor, in its own translation unit because it needs the CUDA and NCCL
// headers; compiled only when build.rs found them next to a CUDA-enabled libtorch (the wheel's
// nvidia-* packages, with nvidia-cuda-crt and nvidia-cuda-cccl added by scripts/setup.sh).
#include "lt_dist.h"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

namespace lt_dist {

c10::intrusive_ptr<c10d::Backend> make_nccl(
    const c10::intrusive_ptr<c10d::Store>& store,
    int rank,
    int size,
    std::chrono::milliseconds timeout) {
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, opts);
}

} // namespace lt_dist
