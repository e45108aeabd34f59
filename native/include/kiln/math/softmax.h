// Softmax and log-softmax along one dim, and their backward passes, written once for both devices
// (cpu/softmax.cc, cuda/softmax.cu). Each is a reduction over the row followed by an elementwise
// pass over it:
//
//   softmax        y_j = exp(x_j - m) / s           where m = max_i x_i, s = sum_i exp(x_i - m)
//   log_softmax    y_j = x_j - m - log(s)           (the row's log-sum-exp state: reduce_ops.h)
//   softmax_backward      dx_j = y_j * (g_j - sum_i g_i y_i)
//       since dy_i/dx_j = y_i (delta_ij - y_j), so dx_j = sum_i g_i y_i (delta_ij - y_j)
//   log_softmax_backward  dx_j = g_j - exp(y_j) * sum_i g_i
//       since y_i = x_i - lse(x), dy_i/dx_j = delta_ij - softmax_j = delta_ij - exp(y_j)
//
// Subtracting the max keeps exp from overflowing. A row whose max is not finite (a NaN, +inf, or
// only -inf) gives NaN everywhere, as PyTorch's softmax does. Half types compute in float; the row
// sums accumulate in SumAcc (float64 for float32 rows).
//
// Kernel contract (packages/tensor/src/ops/softmax.ts): every operand is permuted so that the
// softmax dim is last, [...outer, D], any strides. Forward: input x, output y. Backward: inputs
// grad g and the forward output y, output dx.
#pragma once
#include "kiln/math/reduce_ops.h"

namespace kiln { namespace sm {

template <typename S> using M = compute_t<S>;        // element math
template <typename S> using A = red::SumAcc<S>;      // row sums
template <typename S> using RowState = red::LseState<M<S>, A<S>>;

// What the elementwise pass needs from a row's log-sum-exp state.
template <typename T> struct Norm {
  T m, inv_s, log_s;
};
template <typename S> KILN_HD Norm<M<S>> norm_of(RowState<S> st) {
  using T = M<S>;
  T mx = m::isfinite(st.m) ? st.m : T(NAN);
  return Norm<T>{mx, T(A<S>(1) / st.s), T(m::log(st.s))};
}

struct Softmax {
  template <typename T> KILN_HD static T value(T x, const Norm<T>& n) { return m::exp(x - n.m) * n.inv_s; }
};
struct LogSoftmax {
  template <typename T> KILN_HD static T value(T x, const Norm<T>& n) { return x - n.m - n.log_s; }
};

// Backward: `term` is summed over the row, `grad` gives dx_j from g_j, y_j and that sum.
struct SoftmaxBackward {
  template <typename T> KILN_HD static T term(T g, T y) { return g * y; }
  template <typename T> KILN_HD static T grad(T g, T y, T total) { return y * (g - total); }
};
struct LogSoftmaxBackward {
  template <typename T> KILN_HD static T term(T g, T) { return g; }
  template <typename T> KILN_HD static T grad(T g, T y, T total) { return g - m::exp(y) * total; }
};

}}  // namespace kiln::sm

// X(name, Fn, kind): kind `forward` (Fn::value) or `backward` (Fn::term / Fn::grad); every
// floating dtype.
#define KILN_SOFTMAX_KERNELS(X)                                \
  X("softmax", ::kiln::sm::Softmax, forward)                   \
  X("log_softmax", ::kiln::sm::LogSoftmax, forward)            \
  X("softmax_backward", ::kiln::sm::SoftmaxBackward, backward) \
  X("log_softmax_backward", ::kiln::sm::LogSoftmaxBackward, backward)
