// The batched matrix product C = A · B shared by the CPU (cpu/matmul.cc) and CUDA (cuda/matmul.cu)
// 'bmm' kernels: the compute type of each dtype and the problem's geometry, read and checked once.
//
// Kernel contract (packages/tensor/src/ops/matmul.ts): inputs A [...batch, M, K] and
// B [...batch, K, N], output C [...batch, M, N], all of one dtype and the same batch shape (TS has
// broadcast the batch dims: their strides may be 0), any strides. K = 0 gives C = 0.
#pragma once
#include <cstdint>
#include <string>
#include "kiln/kernel.h"

namespace kiln { namespace mm {

// Products are summed in: float for float32 and the half types (rounded once, when C is stored),
// double for float64, int64 for the integers (int32 results wrap on store, as PyTorch's CPU does).
template <typename S> struct AccOf { using type = compute_t<S>; };
template <> struct AccOf<int32_t> { using type = int64_t; };
template <typename S> using Acc = typename AccOf<S>::type;

struct Problem {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  int64_t a_m, a_k, b_k, b_n, c_m, c_n;   // matrix strides, in elements
  // Batch dims, coalesced over the three operands (outermost first): index -> element offsets.
  int nbatch_dims = 0;
  int64_t batch_shape[kMaxDims];
  int64_t batch_strides[3][kMaxDims];     // [A, B, C]

  KILN_HD void batch_offsets(int64_t b, int64_t off[3]) const {
    off[0] = off[1] = off[2] = 0;
    for (int d = nbatch_dims - 1; d >= 0; --d) {
      int64_t i = b % batch_shape[d];
      b /= batch_shape[d];
      for (int t = 0; t < 3; ++t) off[t] += i * batch_strides[t][d];
    }
  }
};

inline std::string dims_of(const TensorArg& t) {
  std::string s = "[";
  for (int d = 0; d < t.ndim; ++d) s += (d ? ", " : "") + std::to_string(t.shape[d]);
  return s + "]";
}

// Reads and checks the operands of a 'bmm' call.
inline Problem make_problem(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 2 && c.n_outputs == 1, Internal, c.name, "expected inputs A, B and output C");
  const TensorArg &A = c.in(0), &B = c.in(1), &C = c.out(0);
  const int n = A.ndim;
  KILN_CHECK(n >= 2 && B.ndim == n && C.ndim == n, Shape, c.name,
             "operands must have the same number (>= 2) of dims, got " + dims_of(A) + ", " + dims_of(B) + " -> " + dims_of(C));
  KILN_CHECK(B.dtype == A.dtype && C.dtype == A.dtype, DType, c.name,
             std::string("operands must have one dtype, got ") + dtype_name(A.dtype) + ", " + dtype_name(B.dtype) + " -> " + dtype_name(C.dtype));
  Problem p;
  p.M = A.shape[n - 2]; p.K = A.shape[n - 1]; p.N = B.shape[n - 1];
  KILN_CHECK(B.shape[n - 2] == p.K && C.shape[n - 2] == p.M && C.shape[n - 1] == p.N, Shape, c.name,
             "shapes do not multiply: " + dims_of(A) + " · " + dims_of(B) + " -> " + dims_of(C));
  p.a_m = A.strides[n - 2]; p.a_k = A.strides[n - 1];
  p.b_k = B.strides[n - 2]; p.b_n = B.strides[n - 1];
  p.c_m = C.strides[n - 2]; p.c_n = C.strides[n - 1];
  // Coalesce batch dims (innermost first): drop size 1, merge d into its inner neighbour when
  // every operand's stride allows it.
  int64_t sh[kMaxDims], st[3][kMaxDims];
  int k = 0;
  const TensorArg* ops[3] = {&A, &B, &C};
  for (int d = n - 3; d >= 0; --d) {
    KILN_CHECK(B.shape[d] == A.shape[d] && C.shape[d] == A.shape[d], Shape, c.name,
               "batch dims must match, got " + dims_of(A) + ", " + dims_of(B) + " -> " + dims_of(C));
    p.batch *= A.shape[d];
    if (A.shape[d] == 1) continue;
    bool merge = k > 0;
    for (int t = 0; t < 3 && merge; ++t) merge = ops[t]->strides[d] == st[t][k - 1] * sh[k - 1];
    if (merge) {
      sh[k - 1] *= A.shape[d];
    } else {
      sh[k] = A.shape[d];
      for (int t = 0; t < 3; ++t) st[t][k] = ops[t]->strides[d];
      ++k;
    }
  }
  p.nbatch_dims = k;
  for (int i = 0; i < k; ++i) {
    p.batch_shape[i] = sh[k - 1 - i];
    for (int t = 0; t < 3; ++t) p.batch_strides[t][i] = st[t][k - 1 - i];
  }
  return p;
}

}}  // namespace kiln::mm
