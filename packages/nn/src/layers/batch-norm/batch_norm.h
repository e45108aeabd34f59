// Batch normalisation's arithmetic, shared by batch_norm_cpu.cc and batch_norm_cuda.cu (the
// formulas every normalisation shares are in ../norm_common.h); the derivation is in
// batch-norm-function.ts beside this file, which launches these kernels.
//
// x [N, C, *] is contiguous, S the product of its spatial sizes: channel c's n = N·S values are the
// N segments x[(i·C + c)·S, (i·C + c + 1)·S). x, y and their gradients are of dtype T (float32,
// float64, float16 or bfloat16); the statistics, the parameters and their gradients of P =
// compute_t<T>: float32 for the half types, as PyTorch's batch norm under autocast (float32
// parameters, half activations).
//
// Kernel "batch_norm_stats": inputs [x], outputs [mean [C], rstd [C], (runningMean [C],
// runningVar [C])]; attrs [eps, factor]:
//
//   mean = Σx / n,   var = Σ(x - mean)² / n,   rstd = 1 / sqrt(var + eps)
//   runningMean ← (1 - f)·runningMean + f·mean,   runningVar ← (1 - f)·runningVar + f·var·n / (n - 1)
//
// (the running statistics, when given, are read and written in place: PyTorch's momentum update,
// with the variance made unbiased; f is the caller's factor, momentum or 1 / batches seen).
//
// Kernel "batch_norm_apply": inputs [x, mean, rstd, (weight [C]), (bias [C])], outputs [y];
// attrs [hasWeight, hasBias]: y = (x - mean)·rstd·w_c + b_c.
//
// Kernel "batch_norm_backward_reduce": inputs [g, x, mean, rstd, (weight)], outputs
// [gradWeight [C], gradBias [C], coef [C, 2]]; attrs [hasWeight]; g is the gradient of y:
//
//   gradBias = Σg,   gradWeight = rstd·Σ g·(x - mean),   coef = norm_coefficients(rstd, w·Σg, w·Σ g·(x - mean), n)
//
// Kernel "batch_norm_backward_input": inputs [g, x, mean, rstd, coef, (weight)], outputs [gx];
// attrs [hasWeight]: gx = w·rstd·g - (x - mean)·coef[c, 1] - coef[c, 0].
#pragma once
#include "../norm_common.h"

namespace kiln { namespace nn {

// The sizes of a call: N samples, C channels, S positions; each channel's statistics cover N·S values.
struct BatchNormSizes {
  int64_t n, c, s;
  KILN_HD int64_t count() const { return n * s; }
};

inline BatchNormSizes batch_norm_sizes(const KernelCall& call, const TensorArg& x) {
  KILN_CHECK(x.ndim >= 2 && x.is_contiguous(), Internal, call.name, "expected a contiguous input [N, C, ...]");
  BatchNormSizes z{x.shape[0], x.shape[1], 1};
  for (int d = 2; d < x.ndim; ++d) z.s *= x.shape[d];
  return z;
}

// The backward kernels' shared operands, checked (norm_common.h's check_backward_operands, the
// statistics one per channel) with attributes [hasWeight]: x's sizes and the weight (or null).
struct BackwardOperands {
  const TensorArg& x;
  BatchNormSizes z;
  const TensorArg* w;
};
inline BackwardOperands check_backward_inputs(const KernelCall& c, int more, const char* names) {
  KILN_CHECK(c.n_attrs >= 1, Internal, c.name, "expected attributes [hasWeight]");
  const TensorArg& x = c.in(1);
  const BatchNormSizes z = batch_norm_sizes(c, x);
  return {x, z, check_backward_operands(c, more, c.attr(0) != 0, z.c, names)};
}

template <typename C> KILN_HD C bn_running(C old, C batch, C factor) { return (C(1) - factor) * old + factor * batch; }

// The unbiased variance from the biased one of n values (n > 1: the module refuses one value per channel).
template <typename C> KILN_HD C bn_unbiased(C var, int64_t n) { return var * C(n) / C(n - 1); }

// Channel c's gradients and coefficients from its sums Σg and Σ g·(x - mean).
template <typename C> KILN_HD void bn_backward_sums(C sum_g, C sum_gc, C rstd, C w, int64_t n, C* grad_w, C* grad_b, C* coef) {
  *grad_b = sum_g;
  *grad_w = rstd * sum_gc;
  norm_coefficients<C>(rstd, w * sum_g, w * sum_gc, n, coef);
}

// The entry points, the same on both devices: the operands checked, then the device's
// Device::stats<T>, apply<T>, backward_reduce<T> or backward_input<T>. Inputs without values never
// reach a kernel: the TypeScript side takes the composed path for them.
template <typename Device> void batch_norm_stats_entry(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 1 && (c.n_outputs == 2 || c.n_outputs == 4) && c.n_attrs >= 2, Internal, c.name,
             "expected [x], [mean, rstd, (runningMean, runningVar)] and attributes [eps, factor]");
  const TensorArg& x = c.in(0);
  const BatchNormSizes z = batch_norm_sizes(c, x);
  const DType p = norm_stat_dtype(x.dtype);
  const char* names[4] = {"mean", "rstd", "runningMean", "runningVar"};
  for (int i = 0; i < c.n_outputs; ++i) check_vector(c, c.out(i), p, z.c, names[i]);
  KILN_CHECK(z.count() > 1 || c.n_outputs == 2, Internal, c.name, "expected more than one value per channel with running statistics");
  if (z.c == 0 || z.count() == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template stats<scalar_t>(c, z, c.n_outputs == 4));
}

template <typename Device> void batch_norm_apply_entry(KernelCall& c) {
  KILN_CHECK(c.n_attrs >= 2 && c.n_outputs == 1, Internal, c.name, "expected attributes [hasWeight, hasBias] and [y]");
  const bool has_w = c.attr(0) != 0, has_b = c.attr(1) != 0;
  KILN_CHECK(c.n_inputs == 3 + has_w + has_b, Internal, c.name, "expected [x, mean, rstd, (weight), (bias)]");
  const TensorArg& x = c.in(0);
  const BatchNormSizes z = batch_norm_sizes(c, x);
  const DType p = norm_stat_dtype(x.dtype);
  check_vector(c, c.in(1), p, z.c, "mean");
  check_vector(c, c.in(2), p, z.c, "rstd");
  const TensorArg* w = has_w ? &c.in(3) : nullptr;
  const TensorArg* b = has_b ? &c.in(3 + has_w) : nullptr;
  if (w) check_vector(c, *w, p, z.c, "weight");
  if (b) check_vector(c, *b, p, z.c, "bias");
  check_like(c, c.out(0), x, "y");
  if (x.numel == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template apply<scalar_t>(c, z, w, b));
}

template <typename Device> void batch_norm_backward_reduce_entry(KernelCall& c) {
  KILN_CHECK(c.n_outputs == 3, Internal, c.name, "expected [gradWeight, gradBias, coef]");
  const BackwardOperands o = check_backward_inputs(c, 0, "[g, x, mean, rstd, (weight)]");
  const DType p = norm_stat_dtype(o.x.dtype);
  check_vector(c, c.out(0), p, o.z.c, "gradWeight");
  check_vector(c, c.out(1), p, o.z.c, "gradBias");
  check_vector(c, c.out(2), p, o.z.c * 2, "coef");
  if (o.z.c == 0 || o.z.count() == 0) return;
  KILN_DISPATCH_FLOATING(o.x.dtype, c.name, Device::template backward_reduce<scalar_t>(c, o.z, o.w));
}

template <typename Device> void batch_norm_backward_input_entry(KernelCall& c) {
  KILN_CHECK(c.n_outputs == 1, Internal, c.name, "expected [gx]");
  const BackwardOperands o = check_backward_inputs(c, 1, "[g, x, mean, rstd, coef, (weight)]");
  check_vector(c, c.in(4), norm_stat_dtype(o.x.dtype), o.z.c * 2, "coef");
  check_like(c, c.out(0), o.x, "gx");
  if (o.x.numel == 0) return;
  KILN_DISPATCH_FLOATING(o.x.dtype, c.name, Device::template backward_input<scalar_t>(c, o.z, o.w));
}

}}  // namespace kiln::nn
