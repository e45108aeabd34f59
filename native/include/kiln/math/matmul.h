// The batched matrix product C = A · B shared by the CPU (cpu/matmul.cc) and CUDA (cuda/matmul.cu)
// 'bmm' kernels: the compute type of each dtype and the problem's geometry, read and checked once.
//
// Kernel contract (packages/tensor/src/ops/matmul.ts): inputs A [...batch, M, K] and
// B [...batch, K, N], output C [...batch, M, N], all of one dtype and the same batch shape (TS has
// broadcast the batch dims: their strides may be 0), any strides; attribute 0 (optional) the
// float32 matmul precision. K = 0 gives C = 0. 'linear' (ops/linear.ts) is the same product with a
// third input, a bias [N] added to every row of C.
#pragma once
#include <cstdint>
#include <string>
#include "kiln/kernel.h"

namespace kiln { namespace mm {

// Products are summed in: float for float32 and the half types (rounded once, when C is stored),
// double for float64, int64 for the integers (int32 results wrap on store, as PyTorch's CPU does).
template <typename S> struct AccOf {
  using type = compute_t<S>;
};
template <> struct AccOf<int32_t> {
  using type = int64_t;
};
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

// The product C = A · B of three operands A [...batch, M, K], B [...batch, K, N], C [...batch, M, N]
// (one dtype, equal batch shapes, any strides), checked; `op` names the kernel in errors.
// Batch dims are coalesced, and folded into M where B is broadcast over them and A and C step over
// them by whole matrices (a [batch, M, K] tensor times one matrix is one [batch M, K] product).
inline Problem make_problem(const TensorArg& A, const TensorArg& B, const TensorArg& C, const char* op) {
  const int n = A.ndim;
  KILN_CHECK(n >= 2 && B.ndim == n && C.ndim == n, Shape, op,
             "operands must have the same number (>= 2) of dims, got " + dims_of(A) + ", " + dims_of(B) + " -> " + dims_of(C));
  KILN_CHECK(B.dtype == A.dtype && C.dtype == A.dtype, DType, op,
             std::string("operands must have one dtype, got ") + dtype_name(A.dtype) + ", " + dtype_name(B.dtype) + " -> " + dtype_name(C.dtype));
  Problem p;
  p.M = A.shape[n - 2];
  p.K = A.shape[n - 1];
  p.N = B.shape[n - 1];
  KILN_CHECK(B.shape[n - 2] == p.K && C.shape[n - 2] == p.M && C.shape[n - 1] == p.N, Shape, op,
             "shapes do not multiply: " + dims_of(A) + " · " + dims_of(B) + " -> " + dims_of(C));
  p.a_m = A.strides[n - 2];
  p.a_k = A.strides[n - 1];
  p.b_k = B.strides[n - 2];
  p.b_n = B.strides[n - 1];
  p.c_m = C.strides[n - 2];
  p.c_n = C.strides[n - 1];
  // Coalesce batch dims (innermost first): drop size 1, merge d into its inner neighbour when
  // every operand's stride allows it.
  int64_t sh[kMaxDims], st[3][kMaxDims];
  int k = 0;
  const TensorArg* ops[3] = {&A, &B, &C};
  for (int d = n - 3; d >= 0; --d) {
    KILN_CHECK(B.shape[d] == A.shape[d] && C.shape[d] == A.shape[d], Shape, op,
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
  // Fold the innermost batch dims into M: A[b, m] sits at b sA + m a_m = (b M + m) a_m when
  // sA == M a_m (likewise C), and B is the same matrix for every b (sB == 0). A single row (M = 1)
  // has no row stride of its own: it takes the batch stride.
  int first = 0;
  while (first < k && st[1][first] == 0 && p.M > 0) {
    if (p.M == 1) {
      p.a_m = st[0][first];
      p.c_m = st[2][first];
    }
    if (st[0][first] != p.M * p.a_m || st[2][first] != p.M * p.c_m) break;
    p.M *= sh[first];
    p.batch /= sh[first];
    ++first;
  }
  p.nbatch_dims = k - first;
  for (int i = 0; i < p.nbatch_dims; ++i) {
    p.batch_shape[i] = sh[k - 1 - i];
    for (int t = 0; t < 3; ++t) p.batch_strides[t][i] = st[t][k - 1 - i];
  }
  return p;
}

// The operands of a 'bmm' call: inputs A, B, output C.
inline Problem make_problem(KernelCall& c) {
  KILN_CHECK(c.n_inputs == 2 && c.n_outputs == 1, Internal, c.name, "expected inputs A, B and output C");
  return make_problem(c.in(0), c.in(1), c.out(0), c.name);
}

// A bias of `n` elements of `dtype` (linear's over the output's last dim, conv2d's over its channels).
inline void check_bias(const KernelCall& c, const TensorArg& bias, int64_t n, DType dtype) {
  KILN_CHECK(bias.ndim == 1 && bias.shape[0] == n, Shape, c.name, "argument 'bias' expected shape [" + std::to_string(n) + "], got " + dims_of(bias));
  KILN_CHECK(bias.dtype == dtype, DType, c.name, std::string("argument 'bias' expected ") + dtype_name(dtype) + ", got " + dtype_name(bias.dtype));
}

// The float32 matmul precision a kernel was called with (attribute `i` when present): 0 'highest'
// (float32 products, no TF32), 1 'high' and 2 'medium' (TF32 tensor cores allowed; PyTorch's
// torch.set_float32_matmul_precision). Only the CUDA library paths use TF32.
inline int precision_attr(const KernelCall& c, int i) { return c.n_attrs > i ? (int)c.int_attr(i) : 0; }

}}  // namespace kiln::mm
