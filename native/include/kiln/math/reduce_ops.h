// The reductions of Kiln (sum, mean, prod, amax, amin, max/min with indices, argmax, argmin, any,
// all, var, std, logsumexp), each written once for both devices as a functor:
//
//   Acc  identity()                     the state of an empty reduction
//   Acc  step(Acc a, T x, int64_t j)    a with one more element x (j: its index in the reduced run)
//   Acc  combine(Acc a, Acc b)          two partial states merged (any split, any order of merging
//                                       gives the same value up to rounding: the devices reduce in a
//                                       pairwise / tree order, see cpu/reduce.cc and cuda/reduce.cuh)
//   void write(Acc a, int64_t n, void* const outs[], int64_t i)
//                                       finishes the state of n elements into output element i of
//                                       every output (outputs are contiguous)
//
// T is the compute type of the storage type S (half types load as float). Each device's loop reads
// the elements, calls step/combine in its own order and write once per output. The KILN_REDUCTIONS
// list at the end names every reduction kernel; cpu/reduce.cc and cuda/reduce.cu register a kernel
// for each entry, so a new reduction is a functor and a line here.
//
// Accumulation types (`SumAcc`): float32 sums, products and variances accumulate in float64 on both
// devices (memory-bound loops: the wider adds are free, and the result is exact to float32 rounding
// for any realistic length); float16 / bfloat16 accumulate in float32; float64 in float64; integers
// and bool in int64. Both devices also add in a pairwise (CPU) / tree (CUDA) order, so float64 keeps
// an O(log n) error bound.
#pragma once
#include <cstdint>
#include "kiln/dtype.h"
#include "kiln/math/scalar.h"
#include "kiln/math/wrapping.h"

namespace kiln { namespace red {

// ---- types -----------------------------------------------------------------------------------

template <typename S> struct SumAccOf {
  using type = compute_t<S>;
};
template <> struct SumAccOf<float> {
  using type = double;
};
template <> struct SumAccOf<int32_t> {
  using type = int64_t;
};
template <> struct SumAccOf<int64_t> {
  using type = int64_t;
};
template <> struct SumAccOf<bool> {
  using type = int64_t;
};
template <typename S> using SumAcc = typename SumAccOf<S>::type;

// sum and prod of integers and bool give int64 (as PyTorch); floats keep their dtype.
template <typename S> struct SumOutOf {
  using type = S;
};
template <> struct SumOutOf<int32_t> {
  using type = int64_t;
};
template <> struct SumOutOf<bool> {
  using type = int64_t;
};
template <typename S> using SumOut = typename SumOutOf<S>::type;

// The extremes of each compute type (max's identity is lowest(), min's is highest()).
template <typename T> struct Limits;
template <> struct Limits<float> {
  KILN_HD static float lowest() { return -INFINITY; }
  KILN_HD static float highest() { return INFINITY; }
};
template <> struct Limits<double> {
  KILN_HD static double lowest() { return -(double)INFINITY; }
  KILN_HD static double highest() { return (double)INFINITY; }
};
template <> struct Limits<int32_t> {
  KILN_HD static int32_t lowest() { return INT32_MIN; }
  KILN_HD static int32_t highest() { return INT32_MAX; }
};
template <> struct Limits<int64_t> {
  KILN_HD static int64_t lowest() { return INT64_MIN; }
  KILN_HD static int64_t highest() { return INT64_MAX; }
};
template <> struct Limits<bool> {
  KILN_HD static bool lowest() { return false; }
  KILN_HD static bool highest() { return true; }
};

template <typename T> KILN_HD T* out_ptr(void* const outs[], int k) { return static_cast<T*>(outs[k]); }

// ---- sums and products ------------------------------------------------------------------------

// Integer sums and products accumulate in int64 and wrap around on overflow (m::add / m::mul: two's
// complement, as PyTorch in practice); wrap-around is associative and commutative, so the result
// does not depend on the devices' order of adding either. Floating accumulators: plain + and *.

template <typename S> struct Sum {
  using Acc = SumAcc<S>;
  using T = compute_t<S>;
  KILN_HD Acc identity() const { return Acc(0); }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return m::add(a, Acc(x)); }
  KILN_HD Acc combine(Acc a, Acc b) const { return m::add(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { store(out_ptr<SumOut<S>>(outs, 0) + i, a); }
  static Sum from_attrs(const double*) { return {}; }
};

// mean = sum / n; an empty mean is 0/0 = NaN (as PyTorch). Floating dtypes only.
template <typename S> struct Mean : Sum<S> {
  using Acc = SumAcc<S>;
  KILN_HD void write(Acc a, int64_t n, void* const outs[], int64_t i) const { store(out_ptr<S>(outs, 0) + i, a / Acc(n)); }
  static Mean from_attrs(const double*) { return {}; }
};

template <typename S> struct Prod {
  using Acc = SumAcc<S>;
  using T = compute_t<S>;
  KILN_HD Acc identity() const { return Acc(1); }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return m::mul(a, Acc(x)); }
  KILN_HD Acc combine(Acc a, Acc b) const { return m::mul(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { store(out_ptr<SumOut<S>>(outs, 0) + i, a); }
  static Prod from_attrs(const double*) { return {}; }
};

// ---- extremes ---------------------------------------------------------------------------------

// amax / amin: NaN propagates (a NaN anywhere makes the result NaN), as PyTorch.
template <typename S> struct AMax {
  using T = compute_t<S>;
  using Acc = T;
  KILN_HD Acc identity() const { return Limits<T>::lowest(); }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return m::max_nan(a, x); }
  KILN_HD Acc combine(Acc a, Acc b) const { return m::max_nan(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { store(out_ptr<S>(outs, 0) + i, a); }
  static AMax from_attrs(const double*) { return {}; }
};
template <typename S> struct AMin {
  using T = compute_t<S>;
  using Acc = T;
  KILN_HD Acc identity() const { return Limits<T>::highest(); }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return m::min_nan(a, x); }
  KILN_HD Acc combine(Acc a, Acc b) const { return m::min_nan(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { store(out_ptr<S>(outs, 0) + i, a); }
  static AMin from_attrs(const double*) { return {}; }
};

// A value with the index where it was found.
template <typename T> struct ValueIndex {
  T value;
  int64_t index;
};

// Which of two candidates an arg-reduction keeps. A NaN beats every number; among equal values
// (and among NaNs) the smaller index wins, so the first occurrence is reported, as PyTorch does.
// The rule looks at the indices themselves, so the result does not depend on the merge order.
template <typename T, bool kMax> KILN_HD ValueIndex<T> pick(ValueIndex<T> a, ValueIndex<T> b) {
  bool an = m::isnan(a.value), bn = m::isnan(b.value);
  if (an || bn) {
    if (an && bn) return a.index <= b.index ? a : b;
    return an ? a : b;
  }
  if (a.value == b.value) return a.index <= b.index ? a : b;
  return (kMax ? a.value > b.value : a.value < b.value) ? a : b;
}

// max(x, dim) / min(x, dim) -> (values, indices), argmax / argmin -> indices. The identity's index
// is the largest int64, so any real element (even one equal to the identity's value, e.g. -inf for
// max) wins against it.
template <typename S, bool kMax, bool kWriteValue> struct ArgExtreme {
  using T = compute_t<S>;
  using Acc = ValueIndex<T>;
  KILN_HD Acc identity() const { return Acc{kMax ? Limits<T>::lowest() : Limits<T>::highest(), INT64_MAX}; }
  KILN_HD Acc step(Acc a, T x, int64_t j) const { return pick<T, kMax>(a, Acc{x, j}); }
  KILN_HD Acc combine(Acc a, Acc b) const { return pick<T, kMax>(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const {
    if (kWriteValue) {
      store(out_ptr<S>(outs, 0) + i, a.value);
      out_ptr<int64_t>(outs, 1)[i] = a.index;
    } else {
      out_ptr<int64_t>(outs, 0)[i] = a.index;
    }
  }
  static ArgExtreme from_attrs(const double*) { return {}; }
};
template <typename S> using MaxDim = ArgExtreme<S, true, true>;
template <typename S> using MinDim = ArgExtreme<S, false, true>;
template <typename S> using ArgMax = ArgExtreme<S, true, false>;
template <typename S> using ArgMin = ArgExtreme<S, false, false>;

// ---- logical ----------------------------------------------------------------------------------

// any / all: an element counts as true when it is nonzero (NaN is nonzero); the result is bool.
template <typename S, bool kAny> struct Logical {
  using T = compute_t<S>;
  using Acc = bool;
  KILN_HD Acc identity() const { return !kAny; }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return kAny ? (a || x != T(0)) : (a && x != T(0)); }
  KILN_HD Acc combine(Acc a, Acc b) const { return kAny ? (a || b) : (a && b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { out_ptr<bool>(outs, 0)[i] = a; }
  static Logical from_attrs(const double*) { return {}; }
};
template <typename S> using Any = Logical<S, true>;
template <typename S> using All = Logical<S, false>;

// ---- variance ---------------------------------------------------------------------------------

// Welford's running (mean, M2 = sum of squared deviations, n), merged with Chan et al.'s formula:
//   n = na + nb,  d = mean_b - mean_a,  mean = mean_a + d * nb / n,  M2 = M2a + M2b + d^2 * na * nb / n.
// var = M2 / max(0, n - correction) (correction 1: Bessel's, as torch.var; n <= correction gives
// NaN or inf, as PyTorch). Numerically stable without a second pass over the data.
template <typename A> struct Welford {
  A mean, m2;
  int64_t n;
};

template <typename S, bool kStd> struct Variance {
  using T = compute_t<S>;
  using A = SumAcc<S>;
  using Acc = Welford<A>;
  double correction;
  KILN_HD Acc identity() const { return Acc{A(0), A(0), 0}; }
  KILN_HD Acc step(Acc a, T x, int64_t) const {
    a.n += 1;
    A d = A(x) - a.mean;
    a.mean += d / A(a.n);
    a.m2 += d * (A(x) - a.mean);
    return a;
  }
  KILN_HD Acc combine(Acc a, Acc b) const {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    int64_t n = a.n + b.n;
    A d = b.mean - a.mean;
    A fb = A(b.n) / A(n);
    return Acc{a.mean + d * fb, a.m2 + b.m2 + d * d * A(a.n) * fb, n};
  }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const {
    A dof = A(double(a.n) - correction);
    if (dof < A(0)) dof = A(0);
    A v = a.m2 / dof;
    store(out_ptr<S>(outs, 0) + i, kStd ? m::sqrt(v) : v);
  }
  static Variance from_attrs(const double* attrs) { return Variance{attrs[0]}; }
};
template <typename S> using Var = Variance<S, false>;
template <typename S> using Std = Variance<S, true>;

// ---- log-sum-exp (also softmax's normaliser: math/softmax.h) ----------------------------------

// The running state of log(sum_j exp(x_j)) without overflow: the largest element seen, m, and
// s = sum_j exp(x_j - m). Merging rescales the smaller-max side by exp(m_small - m_big).
// Infinities: a term equal to the max contributes exp(0) = 1 even when the max is +-inf (so a row
// of -inf gives log-sum-exp -inf and +inf gives +inf); NaN propagates. s == 0 only for an empty
// state, whose log-sum-exp is log(0) = -inf. M is the type of the max and of exp (the compute
// type), A the type s accumulates in (SumAcc).
template <typename M, typename A> struct LseState {
  M m;
  A s;
};

template <typename M, typename A> KILN_HD LseState<M, A> lse_identity() { return LseState<M, A>{Limits<M>::lowest(), A(0)}; }

template <typename M, typename A> KILN_HD LseState<M, A> lse_step(LseState<M, A> a, M x) {
  if (x > a.m) {
    a.s = a.s * A(m::exp(a.m - x)) + A(1);
    a.m = x;
  } else if (x == a.m) {
    a.s += A(1);
  } else {
    a.s += A(m::exp(x - a.m));   // NaN x or NaN max: NaN
  }
  return a;
}

template <typename M, typename A> KILN_HD LseState<M, A> lse_combine(LseState<M, A> a, LseState<M, A> b) {
  if (b.s == A(0)) return a;
  if (a.s == A(0)) return b;
  if (a.m == b.m) return LseState<M, A>{a.m, a.s + b.s};
  if (a.m > b.m) return LseState<M, A>{a.m, a.s + b.s * A(m::exp(b.m - a.m))};
  if (b.m > a.m) return LseState<M, A>{b.m, b.s + a.s * A(m::exp(a.m - b.m))};
  M nan = a.m != a.m ? a.m : b.m;
  return LseState<M, A>{nan, A(nan)};
}

// log(s) + m; an empty state gives -inf; an infinite max gives that infinity.
template <typename M, typename A> KILN_HD M lse_value(LseState<M, A> a) {
  if (a.s == A(0)) return Limits<M>::lowest();
  return a.m + M(m::log(a.s));
}

template <typename S> struct LogSumExp {
  using T = compute_t<S>;
  using Acc = LseState<T, SumAcc<S>>;
  KILN_HD Acc identity() const { return lse_identity<T, SumAcc<S>>(); }
  KILN_HD Acc step(Acc a, T x, int64_t) const { return lse_step(a, x); }
  KILN_HD Acc combine(Acc a, Acc b) const { return lse_combine(a, b); }
  KILN_HD void write(Acc a, int64_t, void* const outs[], int64_t i) const { store(out_ptr<S>(outs, 0) + i, lse_value(a)); }
  static LogSumExp from_attrs(const double*) { return {}; }
};

}}  // namespace kiln::red

// ---- the kernels ------------------------------------------------------------------------------
//
// X(name, Op, dtypes): a kernel `name` reducing with red::Op<S> for S in `dtypes` (ALL or FLOATING,
// as the KILN_DISPATCH_* macros). Kernel contract (packages/tensor/src/ops/reduce.ts):
//   input 0: the tensor, permuted so that its last attr(0) dims are the reduced ones (strided)
//   outputs: contiguous, numel = the product of the kept dims (values; for max_dim / min_dim also
//            int64 indices); attrs after attr(0) are the op's (var / std: correction)
// An index reported by an arg-reduction is the row-major position within the reduced dims.
#define KILN_REDUCTIONS(X)               \
  X("sum", ::kiln::red::Sum, ALL)        \
  X("mean", ::kiln::red::Mean, FLOATING) \
  X("prod", ::kiln::red::Prod, ALL)      \
  X("amax", ::kiln::red::AMax, ALL)      \
  X("amin", ::kiln::red::AMin, ALL)      \
  X("max_dim", ::kiln::red::MaxDim, ALL) \
  X("min_dim", ::kiln::red::MinDim, ALL) \
  X("argmax", ::kiln::red::ArgMax, ALL)  \
  X("argmin", ::kiln::red::ArgMin, ALL)  \
  X("any", ::kiln::red::Any, ALL)        \
  X("all", ::kiln::red::All, ALL)        \
  X("var", ::kiln::red::Var, FLOATING)   \
  X("std", ::kiln::red::Std, FLOATING)   \
  X("logsumexp", ::kiln::red::LogSumExp, FLOATING)
