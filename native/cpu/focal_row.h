// The CPU's vectorised row loop of the sigmoid focal loss, in a header of its own so that
// native/cpu/focal_loss.cc and the loop's stand-alone benchmark (tools/bench/focal-cpu-kernel.cc)
// compile the same code.
//
// The common case: rows of contiguous logits with an index target and no weight tensors. The
// loop bodies are the shared formula (focal::binary_exp, then focal::binary_rest, as two passes over
// a block of the row: 1.65 -> 1.13 ns per element on one Zen 3 core, tools/bench/focal-cpu-kernel.cc),
// branch-free and call-free in float
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
#include <cstdint>
#include "kiln/math/focal_loss.h"

#ifndef KILN_FOCAL_ROW_CLONES
#define KILN_FOCAL_ROW_CLONES target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"),
#endif

namespace kiln { namespace cpu {

// cls[r] of a row that counts for nothing (an ignored or invalid target): its loss is 0 and its
// gradient row is zeroed.
constexpr int kSkippedRow = -2;

// Rows of contiguous logits (row r at x + r * ldx, its gradient at grad + r * ldg), row r's class
// cls[r] (-1: background only; kSkippedRow): the sum of their losses, each row's sum added in double.
// A run of rows per call, so that the loop's constants are set up once, not per row.
template <typename T, typename PowG, bool kGrad>
__attribute__((KILN_FOCAL_ROW_CLONES flatten, noinline)) double focal_binary_rows(const T* __restrict__ x, int64_t ldx, T* __restrict__ grad, int64_t ldg,
                                                                                  const int32_t* cls, int rows, int C, T gamma, T alpha, T scale) {
  using namespace kiln::focal;
  double total = 0;
  const AlphaWeights<T> alpha_t(alpha);
  // The formula's two stages as two passes over blocks of a row (see focal::binary_exp), e going
  // through a buffer that stays in L1. A block covers RetinaNet's 80 classes in one (a row split in
  // blocks pays each pass's loop set-up again). The passes treat every element as a negative (z = x,
  // alpha_t = 1 - alpha: no per-element selects) and leave the row's one positive element out of
  // the sum; it is computed on its own afterwards (its loss added, its gradient written over).
  constexpr int kBlock = 128;
  alignas(64) T es[kBlock];
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* gr = kGrad ? grad + r * ldg : nullptr;
    const int cls_r = cls[r];
    if (cls_r == kSkippedRow) {
      if constexpr (kGrad)
        for (int c = 0; c < C; ++c) gr[c] = T(0);
      continue;
    }
    T acc = 0;
    for (int c0 = 0; c0 < C; c0 += kBlock) {
      const int n = C - c0 < kBlock ? C - c0 : kBlock;
      const int clsb = cls_r - c0;
#pragma omp simd
      for (int i = 0; i < n; ++i) es[i] = binary_exp<T>(xr[c0 + i], false).e;
#pragma omp simd reduction(+ : acc)
      for (int i = 0; i < n; ++i) {
        LossGrad<T> l = binary_rest<T>({xr[c0 + i], es[i]}, false, gamma, alpha_t, PowG());
        acc += i == clsb ? T(0) : l.loss;
        if constexpr (kGrad) gr[c0 + i] = l.grad * scale;
      }
    }
    if (cls_r >= 0) {
      LossGrad<T> l = binary<T>(xr[cls_r], true, gamma, alpha_t, PowG());
      acc += l.loss;
      if constexpr (kGrad) gr[cls_r] = l.grad * scale;
    }
    total += (double)acc;
  }
  return total;
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
