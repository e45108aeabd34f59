// What the normalisation kernels share (group-norm/group_norm.h, batch-norm/batch_norm.h): the
// operand check of a per-row or per-channel vector and the formulas of the normalised output and
// of the input's gradient, which are the same for any normalisation over a set of n values (the
// derivation is in batch-norm/batch-norm-function.ts). With rstd = 1 / sqrt(var + eps):
//
//   y = (x - mean)·rstd·w + b
//   coef0 = rstd·Σ(w·g) / n,   coef1 = rstd³·Σ(w·g·(x - mean)) / n        (sums over the set)
//   ∂L/∂x = w·rstd·g - (x - mean)·coef1 - coef0
//
// Group normalisation's w varies inside a set (a group holds several channels), so its caller
// sums w·g per channel; batch normalisation's w is one value per set.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include "kiln/dtype.h"
#include "kiln/kernel.h"

namespace kiln { namespace nn {

// The dtype of the statistics and parameters for values of dtype x: float32 for the half types (as
// PyTorch's normalisations under autocast: float32 parameters, half activations), else x's.
inline DType norm_stat_dtype(DType x) { return x == DType::Float64 ? DType::Float64 : DType::Float32; }

// A vector operand: contiguous, `count` values of `dtype`.
inline void check_vector(const KernelCall& call, const TensorArg& v, DType dtype, int64_t count, const char* what) {
  KILN_CHECK(v.is_contiguous() && v.numel == count && v.dtype == dtype, Internal, call.name,
             std::string("expected ") + what + " of " + std::to_string(count) + " values of dtype " + dtype_name(dtype));
}

// An operand shaped as x (the gradient, the output).
inline void check_like(const KernelCall& call, const TensorArg& t, const TensorArg& x, const char* what) {
  KILN_CHECK(t.is_contiguous() && t.numel == x.numel && t.dtype == x.dtype, Internal, call.name, std::string("expected ") + what + " shaped as the input");
}

// The inputs [g, x, mean, rstd, `more` others, (weight)] of a norm's backward kernel, checked once
// its sizes are known: g shaped as x, mean and rstd of `stats` values, the weight (the last input,
// when `has_w`) one per channel of x. `names` lists the inputs for the error. The weight, or null.
inline const TensorArg* check_backward_operands(const KernelCall& c, int more, bool has_w, int64_t stats, const char* names) {
  KILN_CHECK(c.n_inputs == 4 + more + has_w, Internal, c.name, std::string("expected ") + names);
  const TensorArg &g = c.in(0), &x = c.in(1);
  check_like(c, g, x, "the gradient");
  const DType p = norm_stat_dtype(x.dtype);
  check_vector(c, c.in(2), p, stats, "mean");
  check_vector(c, c.in(3), p, stats, "rstd");
  if (!has_w) return nullptr;
  const TensorArg& w = c.in(c.n_inputs - 1);
  check_vector(c, w, p, x.shape[1], "weight");
  return &w;
}

// An optional parameter's address (host code: the kernels' launchers), null when absent.
template <typename P> const P* ptr_or_null(const TensorArg* v) { return v ? v->ptr<P>() : nullptr; }

// Parameter i of an optional parameter (host memory: the CPU kernels), `otherwise` when absent.
template <typename P> P value_or(const TensorArg* v, int64_t i, P otherwise) { return v ? v->ptr<P>()[i] : otherwise; }

template <typename C> KILN_HD C norm_rstd(C var, C eps) { return C(1) / sqrt(var + eps); }

template <typename C> KILN_HD C norm_output(C x, C mean, C rstd, C w, C b) { return (x - mean) * rstd * w + b; }

// coef[0] and coef[1] of a set of n values from its sums Σ w·g and Σ w·g·(x - mean)
template <typename C> KILN_HD void norm_coefficients(C rstd, C sum_wg, C sum_wgc, int64_t n, C* coef) {
  coef[0] = rstd * sum_wg / C(n);
  coef[1] = rstd * rstd * rstd * sum_wgc / C(n);
}

template <typename C> KILN_HD C norm_grad_input(C g, C x, C mean, C rstd, C w, C coef0, C coef1) { return w * rstd * g - (x - mean) * coef1 - coef0; }

}}  // namespace kiln::nn
