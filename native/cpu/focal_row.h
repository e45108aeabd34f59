// The CPU's vectorised row loop of the sigmoid focal loss, in a header of its own so that
// native/cpu/focal_loss.cc and the loop's stand-alone benchmark (tools/bench/focal-cpu-kernel.cc)
// compile the same code.
//
// The common case: one row of contiguous logits with an index target and no weight tensors. The
// loop body is the shared formula (focal::binary), branch-free and call-free in float
// (m::exp_nonpos is inlined; one division per element); built for AVX-512 and AVX2 where the CPU has
// them, with a baseline clone for older CPUs (double calls libmvec's vector exp and log1p: see
// CMakeLists.txt). The class index is compared as int (C < 2^31, checked by the caller): 64-bit lanes
// would need twice the compares and a repacking of the mask. Row sums stay in T (at most C terms;
// the rows' sums are added in double). flatten: the formula must be inlined for the loop to
// vectorise, and GCC's size heuristics would otherwise keep focal::binary (called from the generic
// loops too) out of line, leaving a scalar call per element. noinline changes nothing in the addon
// (a target_clones function is called through its resolver) and keeps the benchmark's timing honest.
//
// KILN_FOCAL_ROW_CLONES (the clone list, with a trailing comma) may be predefined: empty for the
// baseline build only, or fewer targets (the benchmark times one clone at a time that way).
#pragma once
#include "kiln/math/focal_loss.h"

#ifndef KILN_FOCAL_ROW_CLONES
#define KILN_FOCAL_ROW_CLONES target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),
#endif

namespace kiln { namespace cpu {

template <typename T, typename PowG, bool kGrad>
__attribute__((KILN_FOCAL_ROW_CLONES flatten, noinline)) T focal_binary_row(const T* __restrict__ x, T* __restrict__ grad, int C, int cls, T gamma, T alpha,
                                                                            T scale) {
  using namespace kiln::focal;
  T acc = 0;
  const AlphaWeights<T> alpha_t(alpha);
#pragma omp simd reduction(+ : acc)
  for (int c = 0; c < C; ++c) {
    LossGrad<T> r = binary<T>(x[c], c == cls, gamma, alpha_t, PowG());
    acc += r.loss;
    if constexpr (kGrad) grad[c] = r.grad * scale;
  }
  return acc;
}

// The same over a flat run of n elements of several short rows (C too small for a row loop to
// vectorise): kind[i] says what element i is: 1 its row's class, 0 another class, 2 in an ignored
// row (loss and gradient 0, whatever x holds).
template <typename T, typename PowG, bool kGrad>
__attribute__((KILN_FOCAL_ROW_CLONES flatten, noinline)) T focal_binary_flat(const T* __restrict__ x, const int32_t* __restrict__ kind, T* __restrict__ grad,
                                                                             int n, T gamma, T alpha, T scale) {
  using namespace kiln::focal;
  T acc = 0;
  const AlphaWeights<T> alpha_t(alpha);
#pragma omp simd reduction(+ : acc)
  for (int i = 0; i < n; ++i) {
    LossGrad<T> r = binary<T>(x[i], kind[i] == 1, gamma, alpha_t, PowG());
    const bool keep = kind[i] != 2;
    acc += keep ? r.loss : T(0);
    if constexpr (kGrad) grad[i] = keep ? r.grad * scale : T(0);
  }
  return acc;
}

}}  // namespace kiln::cpu
