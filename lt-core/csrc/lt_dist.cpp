// Thin C shim over libtorch's c10d: TCPStore rendezvous, ProcessGroupGloo for CPU tensors,
// ProcessGroupNCCL (created on first use) for CUDA tensors; all-reduce (sum), broadcast,
// barrier. Every entry point catches all C++ exceptions and returns a non-zero code with a
// one-line message in the caller's buffer, so no exception ever crosses into Rust.
//
// Tensors are passed as tch's C_tensor handles, which are `at::Tensor*`.

#include "lt_dist.h"
#include "lt_guard.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

// The opaque handle handed to Rust.
struct lt_dist_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> gloo;
  c10::intrusive_ptr<c10d::Backend> nccl;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{300000};
};

namespace {

using lt::guard;
using lt::Unavailable;

std::vector<at::Tensor> collect(at::Tensor* const* tensors, size_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (tensors[i] == nullptr || !tensors[i]->defined())
      throw std::invalid_argument("tensor " + std::to_string(i) + " is undefined");
    out.push_back(*tensors[i]);
  }
  return out;
}

// Gloo for CPU tensors, NCCL (created lazily: every rank reaches this point with CUDA tensors
// in the same collective, so the creation is collective too) for CUDA tensors.
c10::intrusive_ptr<c10d::Backend> backend_for(lt_dist_group* g, const std::vector<at::Tensor>& ts) {
  bool cuda = ts.front().is_cuda();
  for (const auto& t : ts) {
    if (t.is_cuda() != cuda)
      throw std::invalid_argument("tensors of one collective mix CPU and CUDA devices");
  }
  if (cuda) {
#ifdef LT_DIST_HAVE_NCCL
    if (!g->nccl) {
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("nccl", g->store);
      g->nccl = lt_dist::make_nccl(prefixed, g->rank, g->size, g->timeout);
    }
    return g->nccl;
#else
    throw Unavailable(
        "CUDA tensors need NCCL, but lt-core was built without it: rebuild with a CUDA-enabled "
        "libtorch after scripts/setup.sh (it installs nvidia-cuda-crt and nvidia-cuda-cccl, "
        "the CUDA headers the wheel lacks; `lt-train env` shows what a binary has)");
#endif
  }
  if (!g->gloo)
    throw Unavailable(
        "CPU tensors need Gloo, but lt-core was built without gloo headers "
        "(install libgloo-dev and rebuild)");
  return g->gloo;
}

std::string secs(std::chrono::milliseconds t) {
  char b[32];
  std::snprintf(b, sizeof b, "%g s", static_cast<double>(t.count()) / 1000.0);
  return b;
}

// Waits for every work item; a failure names the operation and the timeout in force, since
// Gloo's own messages ("Operation timed out!", "Connection reset by peer") do not.
void wait_all(std::vector<c10::intrusive_ptr<c10d::Work>>& works, std::chrono::milliseconds t,
              const char* what) {
  std::string head = std::string(what) + " failed (timeout " + secs(t) + "): ";
  for (auto& w : works) {
    bool done = false;
    try {
      done = w->wait(t);
    } catch (const c10::Error& e) {
      throw std::runtime_error(head + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw std::runtime_error(head + e.what());
    }
    if (!done) throw std::runtime_error(head + "no completion within the timeout");
  }
}

// Starts `start(backend, {t})` for each tensor alone (a multi-tensor list means "one tensor
// per local device" to c10d) on the backend that holds them, then waits for all: the loop of
// every tensor collective.
template <typename Start>
void each_tensor(lt_dist_group* g, at::Tensor* const* tensors, size_t n, const char* what,
                 Start start) {
  auto ts = collect(tensors, n);
  auto b = backend_for(g, ts);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& t : ts) {
    std::vector<at::Tensor> one{t};
    works.push_back(start(*b, one));
  }
  wait_all(works, g->timeout, what);
}

}  // namespace

extern "C" {

// 1 when the corresponding backend was compiled in.
int lt_dist_has_gloo() {
#ifdef USE_C10D_GLOO
  return 1;
#else
  return 0;
#endif
}

int lt_dist_has_nccl() {
#ifdef LT_DIST_HAVE_NCCL
  return 1;
#else
  return 0;
#endif
}

// Rendezvous on a TCPStore at master_addr:master_port (rank 0 hosts it) and connect a Gloo
// process group. gloo_iface (e.g. "eth0") or else gloo_host (an address of this machine) picks
// the Gloo transport's network device; both empty means torch's default (this machine's
// hostname, else loopback). timeout_ms bounds the rendezvous and every collective.
int lt_dist_init(const char* master_addr, int master_port, int rank, int world_size,
                 int64_t timeout_ms, const char* gloo_iface, const char* gloo_host,
                 lt_dist_group** out, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (out == nullptr || master_addr == nullptr) throw std::invalid_argument("null argument");
    if (world_size < 1 || rank < 0 || rank >= world_size)
      throw std::invalid_argument("rank " + std::to_string(rank) + " outside world size " +
                                  std::to_string(world_size));
    if (master_port < 1 || master_port > 65535)
      throw std::invalid_argument("master port " + std::to_string(master_port) +
                                  " outside 1..65535");
    auto g = std::make_unique<lt_dist_group>();
    g->rank = rank;
    g->size = world_size;
    g->timeout = std::chrono::milliseconds(timeout_ms);

    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(master_port);
    so.isServer = rank == 0;
    so.numWorkers = world_size;
    so.waitWorkers = true;
    so.timeout = g->timeout;
    try {
      g->store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), so);
    } catch (const c10::Error& e) {
      throw std::runtime_error(std::string("rendezvous at ") + master_addr + ":" +
                               std::to_string(master_port) +
                               " failed: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("rendezvous at ") + master_addr + ":" +
                               std::to_string(master_port) + " failed: " + e.what());
    }

#ifdef USE_C10D_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
    std::string iface = gloo_iface ? gloo_iface : "";
    std::string host = gloo_host ? gloo_host : "";
    if (!iface.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    else if (!host.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("gloo", g->store);
    try {
      g->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, opts);
    } catch (const c10::Error& e) {
      throw std::runtime_error(std::string("connecting the Gloo process group failed: ") +
                               e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string("connecting the Gloo process group failed: ") +
                               e.what());
    }
#else
    (void)gloo_iface;
    (void)gloo_host;
#endif
    *out = g.release();
  });
}

// In-place sum over all ranks of each tensor (tensors may differ in shape and dtype).
int lt_dist_allreduce_sum(lt_dist_group* g, at::Tensor* const* tensors, size_t n, char* err,
                          size_t errlen) {
  return guard(err, errlen, [&] {
    if (g == nullptr) throw std::invalid_argument("null process group");
    if (n == 0) return;
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = g->timeout;
    each_tensor(g, tensors, n, "all_reduce",
                [&](c10d::Backend& b, std::vector<at::Tensor>& one) { return b.allreduce(one, o); });
  });
}

// In-place broadcast of each tensor from `root`.
int lt_dist_broadcast(lt_dist_group* g, at::Tensor* const* tensors, size_t n, int root,
                      char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (g == nullptr) throw std::invalid_argument("null process group");
    if (root < 0 || root >= g->size)
      throw std::invalid_argument("broadcast root " + std::to_string(root) +
                                  " outside world size " + std::to_string(g->size));
    if (n == 0) return;
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.rootTensor = 0;
    o.timeout = g->timeout;
    each_tensor(g, tensors, n, "broadcast",
                [&](c10d::Backend& b, std::vector<at::Tensor>& one) { return b.broadcast(one, o); });
  });
}

// Blocks until every rank has entered the barrier. Uses Gloo when built in, else NCCL on CUDA
// device `cuda_device`.
int lt_dist_barrier(lt_dist_group* g, int cuda_device, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (g == nullptr) throw std::invalid_argument("null process group");
    c10::intrusive_ptr<c10d::Backend> b = g->gloo;
    c10d::BarrierOptions o;
    o.timeout = g->timeout;
    if (!b) {
      auto probe = at::zeros({1}, at::TensorOptions().device(at::kCUDA, cuda_device));
      b = backend_for(g, {probe});
      o.device = probe.device();
    }
    std::vector<c10::intrusive_ptr<c10d::Work>> works{b->barrier(o)};
    wait_all(works, g->timeout, "barrier");
  });
}

// Shuts the backends down (their destructors drain queued work, bounded by the timeout) and
// closes the store connection.
void lt_dist_destroy(lt_dist_group* g) {
  if (g == nullptr) return;
  try {
    g->nccl.reset();
    g->gloo.reset();
    g->store.reset();
  } catch (...) {
  }
  try {
    delete g;
  } catch (...) {
  }
}

}  // extern "C"
