// GradScaler's unscale: every gradient multiplied by 1 / scale in place, and one flag raised when
// any element is infinite or NaN (PyTorch's _amp_foreach_non_finite_check_and_unscale_), shared by
// non_finite_check_cpu.cc and non_finite_check_cuda.cu.
//
// Kernel "amp_non_finite_check_and_unscale": no inputs; outputs [grad_0 .. grad_{k-1}, found_inf]:
// the gradients (contiguous, one floating dtype) are rewritten in place, found_inf (float32, one
// element) is set to 1 when some element of some gradient is not finite and left as it was
// otherwise, so that every launch of a step (one per device, dtype and 15 gradients) reports into
// the same flag and the host reads it once per step; attrs [inv_scale].
#pragma once
#include <string>
#include "kiln/dtype.h"
#include "kiln/kernel.h"
#include "kiln/math/scalar.h"

namespace kiln { namespace amp {

// One element: g · inv_scale (g itself when inv_scale is 1, so that a non-finite g stays what it
// was, as PyTorch's), and `non_finite` raised when g is infinite or NaN. The product is computed in
// the compute type (float for the half types), where a finite g scaled down stays finite.
template <typename C> KILN_HD C unscale_element(C g, C inv_scale, bool& non_finite) {
  if (!m::isfinite(g)) non_finite = true;
  return inv_scale == C(1) ? g : g * inv_scale;
}

// The gradients of one launch and the flag (the TS side guarantees the layout; a failed check is a
// bug there, reported by name).
struct GradList {
  int count = 0;
  DType dtype = DType::Float32;
  char* grad[kMaxTensors] = {};
  int64_t numel[kMaxTensors] = {};
  float* found_inf = nullptr;
};

inline GradList decode_grads(KernelCall& c) {
  GradList L;
  KILN_CHECK(c.n_inputs == 0 && c.n_outputs >= 1 && c.n_attrs >= 1, Internal, c.name, "expects gradients and the found_inf flag as outputs and inv_scale");
  L.count = c.n_outputs - 1;
  TensorArg& flag = c.out(L.count);
  KILN_CHECK(flag.dtype == DType::Float32 && flag.numel == 1, Internal, c.name, "found_inf must be one float32 element");
  L.found_inf = (float*)flag.data;
  if (L.count > 0) L.dtype = c.out(0).dtype;
  for (int i = 0; i < L.count; ++i) {
    TensorArg& g = c.out(i);
    KILN_CHECK(g.is_contiguous() && g.dtype == L.dtype, Internal, c.name,
               "gradient " + std::to_string(i) + " must be contiguous, of gradient 0's dtype " + dtype_name(L.dtype) + " (got " + dtype_name(g.dtype) + ")");
    L.grad[i] = g.data;
    L.numel[i] = g.numel;
  }
  return L;
}

// The kernel as both devices register it: decode, dispatch on the dtype, run `Device::unscale<T>`.
template <typename Device> void non_finite_check_and_unscale(KernelCall& c) {
  GradList L = decode_grads(c);
  if (L.count == 0) return;
  KILN_DISPATCH_FLOATING(L.dtype, c.name, Device::template unscale<scalar_t>(c, L));
}

}}  // namespace kiln::amp
