// CUDA streams and events for the batch pipeline, which tch does not bind: an upload on a
// per-device copy stream with an event recorded after it, the compute stream made to wait on
// that event (no host synchronisation), and CUDA's sync-debug mode (torch.cuda.
// set_sync_debug_mode), which turns any synchronising call into a warning or an error: the
// device check runs training steps under it. Compiled only when the CUDA headers are found
// (LT_HAVE_CUDA); every entry point catches C++ exceptions and returns non-zero with a message.

#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lt_guard.h"
#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

// Only c10's device-generic Event and StreamGuard (which dispatch to libc10_cuda) and functions
// exported by libc10_cuda are used: the header-only CUDA wrappers (CUDAGuard.h, CUDAEvent.h)
// call the CUDA runtime directly, and the binaries do not link libcudart themselves.

namespace {

using lt::guard;

// One copy stream per device, taken from the pool once.
c10::cuda::CUDAStream copy_stream(int device) {
  static std::mutex mu;
  static std::vector<std::optional<c10::cuda::CUDAStream>> streams;
  std::lock_guard<std::mutex> lock(mu);
  if (device < 0 || device >= c10::cuda::device_count())
    throw std::invalid_argument("no CUDA device " + std::to_string(device));
  if (streams.size() <= static_cast<size_t>(device)) streams.resize(device + 1);
  if (!streams[device]) streams[device] = c10::cuda::getStreamFromPool(false, device);
  return *streams[device];
}

}  // namespace

extern "C" {

// Copies a pinned host tensor to CUDA device `device` on the copy stream, without waiting;
// *out is the device tensor, *event an event recorded after the copy (free with
// lt_cuda_event_free). Nothing may use *out on another stream before lt_cuda_event_block.
int lt_cuda_upload(at::Tensor* src, int device, at::Tensor** out, void** event, char* err,
                   size_t errlen) {
  return guard(err, errlen, [&] {
    if (src == nullptr || !src->defined()) throw std::invalid_argument("undefined tensor");
    if (!src->is_pinned()) throw std::invalid_argument("upload source is not pinned");
    c10::Stream stream = copy_stream(device);
    c10::StreamGuard g(stream);
    auto dst = src->to(at::Device(at::kCUDA, device), /*non_blocking=*/true);
    auto ev = new c10::Event(c10::DeviceType::CUDA);
    ev->record(stream);
    *out = new at::Tensor(std::move(dst));
    *event = ev;
  });
}

// Makes device `device`'s current (compute) stream wait for the event, and tells the caching
// allocator that `t`, allocated on the copy stream, is used on the compute stream.
int lt_cuda_event_block(void* event, at::Tensor* t, int device, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    auto compute = c10::cuda::getCurrentCUDAStream(device);
    static_cast<c10::Event*>(event)->block(compute);
    if (t != nullptr && t->defined())
      c10::cuda::CUDACachingAllocator::recordStream(t->storage().data_ptr(), compute);
  });
}

// Waits on the host until the copy behind the event is done (it was issued a step earlier, so
// this rarely waits); only the copy stream is waited for, never the compute stream, so the
// sync-debug mode is lifted for it.
int lt_cuda_event_wait(void* event, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    auto ev = static_cast<c10::Event*>(event);
    if (ev->query()) return;
    auto& ws = c10::cuda::warning_state();
    struct Restore {
      c10::cuda::WarningState& ws;
      c10::cuda::SyncDebugMode mode;
      ~Restore() { ws.set_sync_debug_mode(mode); }
    } restore{ws, ws.get_sync_debug_mode()};
    ws.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
    ev->synchronize();
  });
}

void lt_cuda_event_free(void* event) { delete static_cast<c10::Event*>(event); }

// torch.cuda.set_sync_debug_mode: 0 off, 1 warn, 2 error on any synchronising CUDA call.
int lt_cuda_set_sync_debug(int mode, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (mode < 0 || mode > 2) throw std::invalid_argument("sync debug mode must be 0, 1 or 2");
    c10::cuda::warning_state().set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(mode));
  });
}

}  // extern "C"
