// GEMM micro-kernels for the addon's baseline, x86-64-v2 (16 xmm registers, no FMA): 6 x 8 float32
// and 6 x 4 float64 tiles, 12 accumulators + 2 rows of B + 1 broadcast of A.
#include <cstdint>
#include "gemm_kernels.h"

namespace kiln { namespace cpu { namespace {
constexpr int kVecBytes = 16;
#include "gemm_micro.inc"
void sgemm_6x8(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc) { micro_kernel<float, 6, 2>(kc, a, b, c, ldc, acc); }
void dgemm_6x4(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, bool acc) { micro_kernel<double, 6, 2>(kc, a, b, c, ldc, acc); }

const GemmKernels kKernels{
    Isa::Baseline,
    "baseline (sse4.2): 6x8 float32, 6x4 float64",
    {sgemm_6x8, 6, 8, 256, 72, 1024},
    {dgemm_6x4, 6, 4, 256, 72, 512},
};
const GemmKernelsRegistrar registrar(kKernels);
}}}  // namespace kiln::cpu::(anonymous)
