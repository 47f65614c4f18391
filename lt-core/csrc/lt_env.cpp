// What the binary has, for `lt-train env`: the libtorch it was compiled against, whether
// libtorch's CUDA part is loaded (and the CUDA / cuDNN versions it was built with), CUDA device
// names. Compiled always; device names need the CUDA headers (LT_HAVE_CUDA). No C++ exception
// crosses into Rust.

#include <string>

#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/headeronly/version.h>
#ifdef LT_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "lt_guard.h"

namespace {

// Whether libtorch's CUDA part (libtorch_cuda) is loaded: it registers ATen's CUDA hooks.
bool cuda_built() {
  try {
    return at::detail::getCUDAHooks().isBuilt();
  } catch (...) {
    return false;
  }
}

}  // namespace

extern "C" {

// The libtorch version of the headers the shim was compiled with, e.g. "2.11.0".
const char* lt_env_torch_version() { return TORCH_VERSION; }

// The CUDA runtime version libtorch was built with (e.g. 13000 for 13.0); 0 when libtorch's
// CUDA part is not in this process. Needs no GPU.
long lt_env_cuda_version() {
  if (!cuda_built()) return 0;
  try {
    return at::detail::getCUDAHooks().versionCUDART();
  } catch (...) {
    return 0;
  }
}

// The cuDNN version libtorch was built with (e.g. 91900 for 9.19.0); 0 when none.
long lt_env_cudnn_version() {
  if (!cuda_built()) return 0;
  try {
    return at::detail::getCUDAHooks().hasCuDNN() ? at::detail::getCUDAHooks().versionCuDNN() : 0;
  } catch (...) {
    return 0;
  }
}

// The name of CUDA device `index` in `buf`; 0 on success, else non-zero with the reason in
// `buf`.
int lt_env_cuda_device_name(int index, char* buf, size_t len) {
  std::string name;
  int rc = lt::guard(buf, len, [&] {
#ifdef LT_HAVE_CUDA
    name = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(index))->name;
#else
    (void)index;
    throw lt::Unavailable("lt-core was built without the CUDA headers");
#endif
  });
  if (rc == lt::OK) lt::put_err(buf, len, name);
  return rc;
}

}  // extern "C"
