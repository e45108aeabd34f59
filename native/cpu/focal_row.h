// The CPU's vectorised loop of the sigmoid focal loss, in a header of its own so that
// native/cpu/focal_loss.cc and the loop's stand-alone benchmark (tools/bench/focal-cpu-kernel.cc)
// compile the same code.
//
// The common case: rows of logits, each row contiguous, with an index target and no weight
// tensors. The loop bodies are the shared formula in its three stages (focal::binary_exp,
// binary_terms, binary_loss_grad), run as three passes over a block of logits (FocalBlock below).
// They are branch-free and call-free in float (m::exp_nonpos is inlined; one division per
// element); built for AVX-512 and AVX2 where the CPU has them, with a baseline clone for older CPUs
// (double calls libmvec's vector exp and log1p: see CMakeLists.txt). flatten: the formula must be
// inlined for the loops to vectorise, and GCC's size heuristics would otherwise keep parts of it
// (called from the generic loops too) out of line, leaving a scalar call per element. noinline
// changes nothing in the addon (a target_clones function is called through its resolver) and keeps
// the benchmark's timing honest.
//
// Per element on one Zen 3 core (AVX2; tools/bench/focal-cpu-kernel.cc, C = 80): 1.65 ns in one
// pass per row, 1.13 in two, 1.05 in three, 0.93 in three over blocks that span rows.
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

// Up to kFocalBlock logits through the formula's three stages, as three passes (see
// focal::binary_exp: a pass has a shorter chain of dependent instructions than the whole formula,
// so that the processor overlaps more elements), the intermediates in buffers that stay in L1.
// Every element is treated as a negative (z = x, alpha_t = 1 - alpha: no per-element selects); the
// caller drops the positives (and skipped rows) between the second pass and the third, and computes
// each positive on its own.
constexpr int kFocalBlock = 256;

template <typename T>
struct FocalBlock {
  alignas(64) T e[kFocalBlock];
  alignas(64) T q[kFocalBlock];
  alignas(64) T r[kFocalBlock];
  alignas(64) T ce[kFocalBlock];

  // Passes 1 and 2: e = exp(-|x|), then q, r and ce, for x[0, n), n <= kFocalBlock.
  void terms(const T* __restrict__ x, int n) {
    using namespace kiln::focal;
#pragma omp simd
    for (int i = 0; i < n; ++i) e[i] = binary_exp<T>(x[i], false).e;
#pragma omp simd
    for (int i = 0; i < n; ++i) {
      BinaryTerms<T> t = binary_terms<T>({x[i], e[i]});
      q[i] = t.q;
      r[i] = t.r;
      ce[i] = t.ce;
    }
  }

  // Element i counts for nothing in pass 3: with q = r = ce = 0 its loss alpha_t q^gamma ce and its
  // gradient s alpha_t q^gamma (q + gamma r ce) are 0 for every gamma >= 0 (q^0 = 1 times ce = 0).
  void drop(int i) { q[i] = r[i] = ce[i] = T(0); }
  void drop(int begin, int end) {
    for (int i = begin; i < end; ++i) drop(i);
  }

  // Pass 3: the sum of the n elements' losses; their gradients (times scale) written to grad.
  template <typename PowG, bool kGrad>
  T loss_grad(int n, T* __restrict__ grad, T gamma, focal::AlphaWeights<T> alpha, T scale) const {
    using namespace kiln::focal;
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int i = 0; i < n; ++i) {
      LossGrad<T> l = binary_loss_grad<T>({q[i], r[i], ce[i]}, false, gamma, alpha, PowG());
      acc += l.loss;
      if constexpr (kGrad) grad[i] = l.grad * scale;
    }
    return acc;
  }
};

// Rows of logits (row r at x + r * ldx, its gradient at grad + r * ldg; each row contiguous), row
// r's class cls[r] (-1: background only; kSkippedRow): the sum of their losses, each block's sum
// added in double. A run of rows per call, so that the loop's constants are set up once.
//
// Rows that follow each other in memory (ldx = C, and ldg = C) are one flat run of rows * C
// logits, cut into blocks without regard to where rows end: no per-row loop set-up, no short
// trip counts (RetinaNet's C = 80 would leave vector loops of 10 iterations). Otherwise each row
// is cut into blocks of its own.
template <typename T, typename PowG, bool kGrad>
__attribute__((KILN_FOCAL_ROW_CLONES flatten, noinline)) double focal_binary_rows(const T* __restrict__ x, int64_t ldx, T* __restrict__ grad, int64_t ldg,
                                                                                  const int32_t* cls, int rows, int C, T gamma, T alpha, T scale) {
  using namespace kiln::focal;
  const AlphaWeights<T> alpha_t(alpha);
  FocalBlock<T> blk;
  double total = 0;
  if (ldx == C && (!kGrad || ldg == C)) {
    const int64_t n = (int64_t)rows * C;
    int64_t row = 0;   // the first row with elements in the block
    for (int64_t b = 0; b < n; b += kFocalBlock) {
      const int nb = n - b < kFocalBlock ? (int)(n - b) : kFocalBlock;
      blk.terms(x + b, nb);
      // drop the positives and the skipped rows' elements that lie in [b, b + nb)
      for (; row < rows && row * C < b + nb; ++row) {
        const int64_t first = row * C - b;   // the row's first element, relative to the block
        const int64_t c = cls[row];
        if (c >= 0 && first + c >= 0 && first + c < nb) blk.drop((int)(first + c));
        if (c == kSkippedRow) blk.drop((int)(first > 0 ? first : 0), (int)(first + C < nb ? first + C : nb));
        if ((row + 1) * C > b + nb) break;   // the row goes on in the next block
      }
      total += (double)blk.template loss_grad<PowG, kGrad>(nb, kGrad ? grad + b : nullptr, gamma, alpha_t, scale);
    }
  } else {
    for (int rr = 0; rr < rows; ++rr) {
      const T* xr = x + rr * ldx;
      T* gr = kGrad ? grad + rr * ldg : nullptr;
      const int c = cls[rr];
      if (c == kSkippedRow) {
        if constexpr (kGrad)
          for (int k = 0; k < C; ++k) gr[k] = T(0);
        continue;
      }
      for (int c0 = 0; c0 < C; c0 += kFocalBlock) {
        const int nb = C - c0 < kFocalBlock ? C - c0 : kFocalBlock;
        blk.terms(xr + c0, nb);
        if (c >= c0 && c < c0 + nb) blk.drop(c - c0);
        total += (double)blk.template loss_grad<PowG, kGrad>(nb, kGrad ? gr + c0 : nullptr, gamma, alpha_t, scale);
      }
    }
  }
  // the positives, one by one (a tenth of RetinaNet's rows have one)
  for (int rr = 0; rr < rows; ++rr) {
    const int c = cls[rr];
    if (c < 0) continue;
    LossGrad<T> l = binary<T>(x[rr * ldx + c], true, gamma, alpha_t, PowG());
    total += (double)l.loss;
    if constexpr (kGrad) grad[rr * ldg + c] = l.grad * scale;
  }
  return total;
}

}}  // namespace kiln::cpu
