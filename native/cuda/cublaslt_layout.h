// How a Kiln matrix product (math/matmul.h's Problem) is described to cuBLASLt: pure geometry,
// no library call, so that it is checked on any machine (packages/cuda/test/cublaslt-layout.test.ts
// runs it against a column-major emulation of cuBLASLt on random problems).
//
// Kiln's matrices are row-major by their strides; cuBLASLt's are column-major. A row-major C
// [M, N] with unit column stride is the column-major matrix Cᵀ [N, M], and Cᵀ = Bᵀ Aᵀ, so cuBLASLt
// computes D = op(A') op(B') with A' describing Kiln's B and B' Kiln's A (m = N, n = M, k = K).
// Each operand X (R x C, strides sr, sc) is handed over as the column-major Xᵀ directly when its
// rows are contiguous (sc = 1: layout C x R, ld sr, op N), or as X itself transposed when its
// columns are (sr = 1: layout R x C, ld sc, op T). An operand with neither (a matrix sliced with
// steps on both dims, or broadcast within the matrix) is not described: Kiln's kernel runs it.
//
// Batch dims: the innermost (coalesced) batch dim is cuBLASLt's strided batch (stride 0 for a
// broadcast operand); outer batch dims that do not coalesce into it are looped over.
#pragma once
#include <cstdint>
#include "kiln/math/matmul.h"

namespace kiln { namespace cuda {

struct LtOperand {
  bool transpose;          // op T (else op N)
  uint64_t rows, cols;     // of the stored column-major matrix
  int64_t ld;
};

struct LtLayout {
  LtOperand a, b, d;                    // cuBLASLt's A (Kiln's B), B (Kiln's A), D (Kiln's C)
  int64_t batch;                        // cuBLASLt's strided batch count: the innermost batch dim
  int64_t stride_a, stride_b, stride_d; // its strides (elements), in cuBLASLt's roles
  int64_t outer;                        // combinations of the outer batch dims, looped over
};

inline int64_t lt_max1(int64_t v) { return v < 1 ? 1 : v; }

// The row-major matrix X (R x C, strides sr, sc) as the column-major operand Xᵀ (C x R).
inline bool lt_operand(int64_t R, int64_t C, int64_t sr, int64_t sc, LtOperand& out) {
  if ((sc == 1 || C == 1) && (R == 1 || sr >= lt_max1(C))) {
    out = {false, (uint64_t)C, (uint64_t)R, R == 1 ? lt_max1(C) : sr};
    return true;
  }
  if ((sr == 1 || R == 1) && (C == 1 || sc >= lt_max1(R))) {
    out = {true, (uint64_t)R, (uint64_t)C, C == 1 ? lt_max1(R) : sc};
    return true;
  }
  return false;
}

// Describes P to cuBLASLt; false when it cannot be (see the top of this file; K = 0 too, and
// batch counts beyond int32 or overlapping output matrices).
inline bool lt_layout(const mm::Problem& P, LtLayout& L) {
  if (P.K == 0 || P.M == 0 || P.N == 0) return false;
  if (!lt_operand(P.K, P.N, P.b_k, P.b_n, L.a) || !lt_operand(P.M, P.K, P.a_m, P.a_k, L.b)) return false;
  if (!(P.c_n == 1 || P.N == 1) || !(P.M == 1 || P.c_m >= lt_max1(P.N))) return false;
  L.d = {false, (uint64_t)P.N, (uint64_t)P.M, P.M == 1 ? lt_max1(P.N) : P.c_m};
  const int nb = P.nbatch_dims;
  L.batch = nb > 0 ? P.batch_shape[nb - 1] : 1;
  if (L.batch > INT32_MAX) return false;
  L.stride_a = nb > 0 ? P.batch_strides[1][nb - 1] : 0;
  L.stride_b = nb > 0 ? P.batch_strides[0][nb - 1] : 0;
  L.stride_d = nb > 0 ? P.batch_strides[2][nb - 1] : 0;
  if (L.batch > 1 && L.stride_d < L.d.ld * (int64_t)L.d.cols) return false;   // output matrices must not overlap
  L.outer = 1;
  for (int d = 0; d + 1 < nb; ++d) L.outer *= P.batch_shape[d];
  return true;
}

// Element offsets [Kiln's A, B, C] of outer batch `ob` (0 <= ob < L.outer).
inline void lt_outer_offsets(const mm::Problem& P, int64_t ob, int64_t off[3]) {
  off[0] = off[1] = off[2] = 0;
  for (int d = P.nbatch_dims - 2; d >= 0; --d) {
    const int64_t i = ob % P.batch_shape[d];
    ob /= P.batch_shape[d];
    for (int t = 0; t < 3; ++t) off[t] += i * P.batch_strides[t][d];
  }
}

// The OR of the outer batch strides of operand t (0 A, 1 B, 2 C): their lowest set bit bounds the
// alignment of every start address the loop produces.
inline int64_t lt_outer_stride_bits(const mm::Problem& P, int t) {
  int64_t bits = 0;
  for (int d = 0; d + 1 < P.nbatch_dims; ++d) bits |= P.batch_strides[t][d];
  return bits;
}

}}  // namespace kiln::cuda
