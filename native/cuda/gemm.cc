// Path selection for the CUDA device's matrix products (gemm.h).
#include "gemm.h"
#include "tensor_ops.h"

namespace kiln { namespace cuda {

DenseCounts& dense_counts() {
  static DenseCounts counts;
  return counts;
}

GemmPath gemm(const GemmCall& g) {
  if (g.p.batch == 0 || g.p.M == 0 || g.p.N == 0) return GemmPath::Kiln;
  if (cublaslt_gemm(g)) {
    dense_counts().gemm_cublaslt++;
    return GemmPath::CublasLt;
  }
  GemmCall plain = g;
  plain.bias = nullptr;
  GemmPath path = g.bias && cublaslt_gemm(plain) ? GemmPath::CublasLt : GemmPath::Kiln;
  if (path == GemmPath::Kiln) kiln_gemm(plain);
  (path == GemmPath::Kiln ? dense_counts().gemm_kiln : dense_counts().gemm_cublaslt)++;
  if (g.bias) {
    // C is contiguous [rows, N]: the bias is channel n of each row
    const int64_t rows = g.p.batch * g.p.M;
    TensorArg out;
    out.data = static_cast<char*>(g.c);
    out.dtype = g.dtype;
    out.ndim = 1;
    out.numel = rows * g.p.N;
    out.shape[0] = out.numel;
    out.strides[0] = 1;
    add_channel_bias(*g.call, out, *g.bias, rows, g.p.N, 1);
  }
  return path;
}

}}  // namespace kiln::cuda
