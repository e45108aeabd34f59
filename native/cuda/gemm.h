// The CUDA device's matrix products: C = A · B (C += A · B when accumulating), batched, with an
// optional bias [N] added to every row; through cuBLASLt where it is loaded, enabled and applies,
// else through Kiln's own tiled kernel. Used by 'bmm', 'linear' and the convolution's im2col path.
#pragma once
#include <atomic>
#include "kiln/kernel.h"
#include "kiln/math/matmul.h"

namespace kiln { namespace cuda {

struct GemmCall {
  const KernelCall* call;              // the op (errors name it), its device and stream
  DType dtype;
  mm::Problem p;                       // geometry and strides (math/matmul.h)
  const void* a;
  const void* b;
  void* c;
  const TensorArg* bias = nullptr;     // [N] added to every row of C (C contiguous)
  bool accumulate = false;             // C += A · B
  int precision = 0;                   // float32 matmul precision (matmul.h's precision_attr)
};

enum class GemmPath { CublasLt, Kiln };

// How many products and convolutions each path has run in this process (libraries_binding.cc
// reports them: tests check that the path they meant to exercise is the one that ran).
struct DenseCounts {
  std::atomic<int64_t> gemm_cublaslt{0}, gemm_kiln{0}, conv_cudnn{0}, conv_cudnn_graph{0}, conv_im2col{0};
};
DenseCounts& dense_counts();

// Runs the product on the best path available; says which ran.
GemmPath gemm(const GemmCall& g);

// The cuBLASLt path (cublaslt_matmul.cc): false, having done nothing, when it does not apply
// (library unavailable or disabled, integer dtypes, K = 0, an operand with no unit stride on
// either matrix dim or with overlapping rows, no algorithm found); then the caller falls back.
// With a bias it uses the BIAS epilogue, or returns false when that is not possible.
bool cublaslt_gemm(const GemmCall& g);

// Kiln's tiled kernel (gemm_kernel.cu): every numeric dtype, any strides; no bias.
void kiln_gemm(const GemmCall& g);

}}  // namespace kiln::cuda
