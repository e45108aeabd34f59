// Group normalisation's arithmetic, shared by group_norm_cpu.cc and group_norm_cuda.cu (the
// formulas every normalisation shares are in ../norm_common.h); the derivation is in
// group-norm-function.ts beside this file, which launches these kernels.
//
// x [N, C, *] is contiguous; S is the product of its spatial sizes and the channels split into G
// groups of C/G, so that the values of group g of sample n are one contiguous row of
// M = (C/G)·S values, row n·G + g. x, y and their gradients are of dtype T (float32, float64,
// float16 or bfloat16); the statistics, the parameters and the sums of P = compute_t<T> (float32
// for the half types: norm_stat_dtype). The CUDA kernels compute in P; the CPU kernels take every
// sum in double.
//
// Kernel "group_norm_stats": inputs [x], outputs [mean [N·G], rstd [N·G]]; attrs [groups, eps]:
//
//   mean = Σx / M,   var = Σ(x - mean)² / M (a second pass over the row),   rstd = 1 / sqrt(var + eps)
//
// Kernel "group_norm_apply": inputs [x, mean, rstd, (weight [C]), (bias [C])], outputs [y];
// attrs [groups, hasWeight, hasBias]:
//
//   y = (x - mean)·rstd·w_c + b_c          (w = 1, b = 0 when absent)
//
// Kernel "group_norm_backward_reduce": inputs [g, x, mean, rstd, (weight)], outputs
// [s1 [N, C], s2 [N, C], coef [N·G, 2]]; attrs [groups, hasWeight]; g is the gradient of y:
//
//   s1[n, c] = Σ_positions g,   s2[n, c] = Σ_positions g·(x - mean)
//   coef[ng, 0] = rstd·Σ_{c in g} w_c·s1[n, c] / M,   coef[ng, 1] = rstd³·Σ_{c in g} w_c·s2[n, c] / M
//
// Kernel "group_norm_backward_input": inputs [g, x, mean, rstd, coef, (weight)], outputs [gx];
// attrs [groups, hasWeight]:
//
//   gx = w_c·rstd·g - (x - mean)·coef[ng, 1] - coef[ng, 0]
//
// Kernel "group_norm_param_grads": inputs [s1, s2, rstd], outputs [gradWeight [C], gradBias [C]];
// attrs [groups]:
//
//   gradWeight[c] = Σ_n rstd[n, group(c)]·s2[n, c],   gradBias[c] = Σ_n s1[n, c]
#pragma once
#include "../norm_common.h"

namespace kiln { namespace nn {

// The sizes of a call: N samples, C channels, S positions, G groups of P = C/G channels, rows of M.
struct GroupNormSizes {
  int64_t n, c, s, groups, per_group, m;
  KILN_HD int64_t rows() const { return n * groups; }
};

inline GroupNormSizes group_norm_sizes(const KernelCall& call, const TensorArg& x, int64_t groups) {
  KILN_CHECK(x.ndim >= 2 && x.is_contiguous(), Internal, call.name, "expected a contiguous input [N, C, ...]");
  KILN_CHECK(groups >= 1 && x.shape[1] % groups == 0, Internal, call.name, "expected C a multiple of the groups");
  GroupNormSizes z;
  z.n = x.shape[0];
  z.c = x.shape[1];
  z.s = 1;
  for (int d = 2; d < x.ndim; ++d) z.s *= x.shape[d];
  z.groups = groups;
  z.per_group = z.c / groups;
  z.m = z.per_group * z.s;
  return z;
}

// A per-row [N·G] or per-channel [C] operand: `count` values of the statistics' dtype.
inline void check_vector(const KernelCall& call, const TensorArg& x, const TensorArg& v, int64_t count, const char* what) {
  check_vector(call, v, norm_stat_dtype(x.dtype), count, what);
}

// Element e of x [N, C, S]: its row (n·G + g) and its channel c.
struct GroupNormAt {
  int64_t row, channel;
  KILN_HD GroupNormAt(int64_t e, int64_t c, int64_t s, int64_t per_group) {
    const int64_t nc = e / s;
    channel = nc % c;
    row = (nc / c) * (c / per_group) + channel / per_group;
  }
};

// Channel ch's parameter gradients (kernel "group_norm_param_grads"), summed in A.
template <typename A, typename P>
KILN_HD void gn_param_grads(const P* s1, const P* s2, const P* rstd, const GroupNormSizes& z, int64_t ch, P* grad_w, P* grad_b) {
  A w = A(0), b = A(0);
  for (int64_t i = 0; i < z.n; ++i) {
    w += A(rstd[i * z.groups + ch / z.per_group]) * A(s2[i * z.c + ch]);
    b += A(s1[i * z.c + ch]);
  }
  grad_w[ch] = P(w);
  grad_b[ch] = P(b);
}

// The kernels' entry points, the same on both devices: the operands checked, then the device's
// Device::stats<T>, apply<T>, backward_reduce<T> or backward_input<T> with the sizes and the
// optional weight and bias (null when absent). Rows of no values (S = 0) never reach a kernel:
// the TypeScript side takes the composed path for empty inputs.
template <typename Device> void group_norm_stats_entry(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 1 && c.n_outputs == 2 && c.n_attrs >= 2, Internal, c.name, "expected [x], [mean, rstd] and attributes [groups, eps]");
  const TensorArg& x = c.in(0);
  const GroupNormSizes z = group_norm_sizes(c, x, c.int_attr(0));
  check_vector(c, x, c.out(0), z.rows(), "mean");
  check_vector(c, x, c.out(1), z.rows(), "rstd");
  if (z.rows() == 0 || z.m == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template stats<scalar_t>(c, z));
}

template <typename Device> void group_norm_apply_entry(KernelCall& c) {
  KILN_CHECK(c.n_attrs >= 3 && c.n_outputs == 1, Internal, c.name, "expected attributes [groups, hasWeight, hasBias] and [y]");
  const bool has_w = c.attr(1) != 0, has_b = c.attr(2) != 0;
  KILN_CHECK(c.n_inputs == 3 + has_w + has_b, Internal, c.name, "expected [x, mean, rstd, (weight), (bias)]");
  const TensorArg& x = c.in(0);
  const GroupNormSizes z = group_norm_sizes(c, x, c.int_attr(0));
  check_vector(c, x, c.in(1), z.rows(), "mean");
  check_vector(c, x, c.in(2), z.rows(), "rstd");
  const TensorArg* w = has_w ? &c.in(3) : nullptr;
  const TensorArg* b = has_b ? &c.in(3 + has_w) : nullptr;
  if (w) check_vector(c, x, *w, z.c, "weight");
  if (b) check_vector(c, x, *b, z.c, "bias");
  check_like(c, c.out(0), x, "y");
  if (x.numel == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template apply<scalar_t>(c, z, w, b));
}

template <typename Device> void group_norm_backward_reduce_entry(KernelCall& c) {
  KILN_CHECK(c.n_attrs >= 2 && c.n_outputs == 3, Internal, c.name, "expected attributes [groups, hasWeight] and [s1, s2, coef]");
  const TensorArg& x = c.in(1);
  const GroupNormSizes z = group_norm_sizes(c, x, c.int_attr(0));
  const TensorArg* w = check_backward_operands(c, 0, c.attr(1) != 0, z.rows(), "[g, x, mean, rstd, (weight)]");
  check_vector(c, x, c.out(0), z.n * z.c, "s1");
  check_vector(c, x, c.out(1), z.n * z.c, "s2");
  check_vector(c, x, c.out(2), z.rows() * 2, "coef");
  if (z.rows() == 0 || z.m == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template backward_reduce<scalar_t>(c, z, w));
}

template <typename Device> void group_norm_backward_input_entry(KernelCall& c) {
  KILN_CHECK(c.n_attrs >= 2 && c.n_outputs == 1, Internal, c.name, "expected attributes [groups, hasWeight] and [gx]");
  const TensorArg& x = c.in(1);
  const GroupNormSizes z = group_norm_sizes(c, x, c.int_attr(0));
  const TensorArg* w = check_backward_operands(c, 1, c.attr(1) != 0, z.rows(), "[g, x, mean, rstd, coef, (weight)]");
  check_vector(c, x, c.in(4), z.rows() * 2, "coef");
  check_like(c, c.out(0), x, "gx");
  if (x.numel == 0) return;
  KILN_DISPATCH_FLOATING(x.dtype, c.name, Device::template backward_input<scalar_t>(c, z, w));
}

template <typename Device> void group_norm_param_grads_entry(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 3 && c.n_outputs == 2 && c.n_attrs >= 1, Internal, c.name,
             "expected [s1, s2, rstd], [gradWeight, gradBias] and attributes [groups]");
  const TensorArg& s1 = c.in(0);
  KILN_CHECK(s1.ndim == 2 && (s1.dtype == DType::Float32 || s1.dtype == DType::Float64), Internal, c.name, "expected s1 [N, C] of float32 or float64");
  GroupNormSizes z{s1.shape[0], s1.shape[1], 1, c.int_attr(0), 0, 0};
  KILN_CHECK(z.groups >= 1 && z.c % z.groups == 0, Internal, c.name, "expected C a multiple of the groups");
  z.per_group = z.c / z.groups;
  check_vector(c, c.in(1), s1.dtype, z.n * z.c, "s2");
  check_vector(c, c.in(2), s1.dtype, z.rows(), "rstd");
  check_vector(c, c.out(0), s1.dtype, z.c, "gradWeight");
  check_vector(c, c.out(1), s1.dtype, z.c, "gradBias");
  if (z.c == 0) return;
  KILN_DISPATCH_FLOAT_DOUBLE(s1.dtype, c.name, Device::template param_grads<scalar_t>(c, z));
}

}}  // namespace kiln::nn
