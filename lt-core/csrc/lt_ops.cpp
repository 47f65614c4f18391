// ATen operations tch 0.24 does not bind, for the training step: multi-tensor SGD (`_foreach_*`
// and `_fused_sgd_`), the gradient scaler's unscale-and-check, autocast with a chosen dtype on
// a chosen device type, and channels-last memory format. Compiled on every machine (CPU or
// CUDA libtorch). Every entry point catches all C++ exceptions and returns non-zero with a
// one-line message in the caller's buffer; tensors are tch's handles (`at::Tensor*`).

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lt_guard.h"
#include <ATen/autocast_mode.h>

namespace {

using lt::guard;

std::vector<at::Tensor> list(at::Tensor* const* t, size_t from, size_t to) {
  std::vector<at::Tensor> out;
  out.reserve(to - from);
  for (size_t i = from; i < to; ++i) {
    if (t[i] == nullptr || !t[i]->defined())
      throw std::invalid_argument("tensor " + std::to_string(i) + " is undefined");
    out.push_back(*t[i]);
  }
  return out;
}

c10::DeviceType device_type(int code) {
  switch (code) {
    case 0: return c10::DeviceType::CPU;
    case 1: return c10::DeviceType::CUDA;
  }
  throw std::invalid_argument("unknown device type code " + std::to_string(code));
}

at::ScalarType half_type(int code) {
  switch (code) {
    case 0: return at::kBFloat16;
    case 1: return at::kHalf;
  }
  throw std::invalid_argument("unknown reduced-precision code " + std::to_string(code));
}



// The multi-tensor form: d = g + wd * p; buf = momentum * buf + (1 - dampening) * d (or buf = d
// for fresh buffers); d = d + momentum * buf (Nesterov) or buf; p = p - lr * d. Products are
// rounded before the sums, exactly as the per-tensor update in optim.rs, so both give the same
// bits.
void sgd_foreach(at::Tensor* const* params, at::Tensor* const* grads, at::Tensor* const* bufs,
                 size_t n, size_t n_old, double lr, double weight_decay, double momentum,
                 double dampening, bool nesterov) {
  auto p = list(params, 0, n);
  auto g = list(grads, 0, n);
  std::vector<at::Tensor> d =
      weight_decay != 0.0 ? at::_foreach_add(g, at::_foreach_mul(p, weight_decay)) : g;
  if (momentum != 0.0) {
    auto old_bufs = list(bufs, 0, n_old);
    auto new_bufs = list(bufs, n_old, n);
    std::vector<at::Tensor> d_old(d.begin(), d.begin() + n_old);
    std::vector<at::Tensor> d_new(d.begin() + n_old, d.end());
    if (!old_bufs.empty()) {
      at::_foreach_mul_(old_bufs, momentum);
      if (dampening != 0.0) {
        at::_foreach_add_(old_bufs, at::_foreach_mul(d_old, 1.0 - dampening));
      } else {
        at::_foreach_add_(old_bufs, d_old);
      }
    }
    if (!new_bufs.empty()) at::_foreach_copy_(new_bufs, d_new);
    auto all = list(bufs, 0, n);
    d = nesterov ? at::_foreach_add(d, at::_foreach_mul(all, momentum)) : all;
  }
  at::_foreach_sub_(p, at::_foreach_mul(d, lr));
}

// ATen's fused kernel (one kernel for the group), skipped on the device when found_inf is
// non-zero; fresh buffers (index >= n_old) are initialised by its first-step branch.
void sgd_fused(at::Tensor* const* params, at::Tensor* const* grads, at::Tensor* const* bufs,
               size_t n, size_t n_old, double lr, double weight_decay, double momentum,
               double dampening, bool nesterov, at::Tensor* found_inf) {
  std::optional<at::Tensor> inf;
  if (found_inf != nullptr) inf = *found_inf;
  auto step = [&](size_t from, size_t to, bool first) {
    if (from == to) return;
    auto b = momentum != 0.0 ? list(bufs, from, to) : std::vector<at::Tensor>{};
    at::_fused_sgd_(list(params, from, to), list(grads, from, to), b, weight_decay, momentum, lr,
                    dampening, nesterov, false, first, std::nullopt, inf);
  };
  step(0, n_old, false);
  step(n_old, n, true);
}

}  // namespace

extern "C" {

// One SGD step of a parameter group (torch.optim.SGD's update) with a few kernels for the whole
// group: multi-tensor `_foreach_*` kernels, or with `fused` ATen's fused kernel, which skips the
// update on the device when found_inf (a one-element float tensor, may be null) is non-zero
// (the mixed-precision step, which must not read found_inf back to the host). params, grads and
// bufs hold n tensors; the first n_old buffers carry momentum, the others are fresh and get the
// first step's value. bufs may be null when momentum is 0.
int lt_sgd_step(at::Tensor* const* params, at::Tensor* const* grads, at::Tensor* const* bufs,
                size_t n, size_t n_old, double lr, double weight_decay, double momentum,
                double dampening, int nesterov, int fused, at::Tensor* found_inf, char* err,
                size_t errlen) {
  return guard(err, errlen, [&] {
    if (n == 0) return;
    if (n_old > n) throw std::invalid_argument("more old buffers than parameters");
    if (momentum != 0.0 && bufs == nullptr) throw std::invalid_argument("momentum needs buffers");
    at::NoGradGuard no_grad;
    if (fused) {
      sgd_fused(params, grads, bufs, n, n_old, lr, weight_decay, momentum, dampening,
                nesterov != 0, found_inf);
    } else {
      sgd_foreach(params, grads, bufs, n, n_old, lr, weight_decay, momentum, dampening,
                  nesterov != 0);
    }
  });
}

// Drops the gradients of n tensors (`p.grad = None`, torch's default zero_grad): the next
// backward hands each parameter its gradient buffer instead of adding into zeros.
int lt_grad_set_none(at::Tensor* const* params, size_t n, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    for (auto& p : list(params, 0, n)) p.mutable_grad().reset();
  });
}

// Gradient scaler: grads *= inv_scale in place, found_inf set to 1 when any value is inf/NaN
// (`torch._amp_foreach_non_finite_check_and_unscale_`). Nothing is read back to the host.
int lt_amp_unscale(at::Tensor* const* grads, size_t n, at::Tensor* found_inf,
                   at::Tensor* inv_scale, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (found_inf == nullptr || inv_scale == nullptr)
      throw std::invalid_argument("found_inf and inv_scale are required");
    if (n == 0) return;
    auto g = list(grads, 0, n);
    at::_amp_foreach_non_finite_check_and_unscale_(g, *found_inf, *inv_scale);
  });
}

// Enters autocast on `device` (0 CPU, 1 CUDA) with `dtype` (0 bfloat16, 1 float16); the
// previous state goes to prev_enabled / prev_dtype (a ScalarType code) for lt_autocast_exit.
int lt_autocast_enter(int device, int dtype, int* prev_enabled, int* prev_dtype, char* err,
                      size_t errlen) {
  return guard(err, errlen, [&] {
    auto dt = device_type(device);
    *prev_enabled = at::autocast::is_autocast_enabled(dt) ? 1 : 0;
    *prev_dtype = static_cast<int>(at::autocast::get_autocast_dtype(dt));
    at::autocast::set_autocast_dtype(dt, half_type(dtype));
    at::autocast::set_autocast_enabled(dt, true);
    at::autocast::increment_nesting();
  });
}

// Leaves autocast as torch.autocast's __exit__ does: the cast cache is cleared when the
// outermost region ends, then the previous state is restored.
int lt_autocast_exit(int device, int prev_enabled, int prev_dtype, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    auto dt = device_type(device);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(dt, prev_enabled != 0);
    at::autocast::set_autocast_dtype(dt, static_cast<at::ScalarType>(prev_dtype));
  });
}

// A channels-last (NHWC strides) copy of a 4-d tensor, or the tensor itself when it already is.
int lt_channels_last(at::Tensor* t, at::Tensor** out, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (t == nullptr || !t->defined()) throw std::invalid_argument("undefined tensor");
    *out = new at::Tensor(t->contiguous(at::MemoryFormat::ChannelsLast));
  });
}

// Re-lays a 4-d parameter out channels-last in place (its identity, gradient slot and autograd
// leaf status kept), as `module.to(memory_format=torch.channels_last)` does.
int lt_set_channels_last(at::Tensor* t, char* err, size_t errlen) {
  return guard(err, errlen, [&] {
    if (t == nullptr || !t->defined()) throw std::invalid_argument("undefined tensor");
    at::NoGradGuard no_grad;
    t->set_data(t->contiguous(at::MemoryFormat::ChannelsLast));
  });
}

// Whether a tensor's strides are channels-last.
int lt_is_channels_last(at::Tensor* t) {
  return t != nullptr && t->defined() && t->dim() == 4 &&
         t->is_contiguous(at::MemoryFormat::ChannelsLast);
}

}  // extern "C"
