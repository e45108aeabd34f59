// GEMM micro-kernels for AVX2 + FMA (16 ymm registers): 6 x 16 float32 and 6 x 8 float64 tiles,
// 12 accumulators + 2 rows of B + 1 broadcast of A (BLIS's Haswell shapes).
#include <cstdint>
#include "gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace kiln { namespace cpu { namespace {
constexpr int kVecBytes = 32;
#include "gemm_micro.inc"
void sgemm_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc) { micro_kernel<float, 6, 2>(kc, a, b, c, ldc, acc); }
void dgemm_6x8(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, bool acc) { micro_kernel<double, 6, 2>(kc, a, b, c, ldc, acc); }
}}}  // namespace kiln::cpu::(anonymous)
#pragma GCC pop_options

namespace kiln { namespace cpu { namespace {
const GemmKernels kKernels{
    Isa::Avx2,
    "avx2+fma: 6x16 float32, 6x8 float64",
    {sgemm_6x16, 6, 16, 256, 144, 2048},
    {dgemm_6x8, 6, 8, 256, 72, 1024},
};
const GemmKernelsRegistrar registrar(kKernels);
}}}  // namespace kiln::cpu::(anonymous)
