// GEMM micro-kernels for AVX-512 F (32 zmm registers): 12 x 32 float32 and 12 x 16 float64 tiles,
// 24 accumulators + 2 rows of B + 1 broadcast of A (BLIS's Skylake-X shapes, transposed for our
// row-major C).
#include <cstdint>
#include "gemm_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
namespace kiln { namespace cpu { namespace {
constexpr int kVecBytes = 64;
#include "gemm_micro.inc"
void sgemm_12x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool acc) { micro_kernel<float, 12, 2>(kc, a, b, c, ldc, acc); }
void dgemm_12x16(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, bool acc) { micro_kernel<double, 12, 2>(kc, a, b, c, ldc, acc); }
}}}  // namespace kiln::cpu::(anonymous)
#pragma GCC pop_options

namespace kiln { namespace cpu { namespace {
const GemmKernels kKernels{
    Isa::Avx512,
    "avx512f: 12x32 float32, 12x16 float64",
    {sgemm_12x32, 12, 32, 256, 144, 2048},
    {dgemm_12x16, 12, 16, 256, 72, 1024},
};
const GemmKernelsRegistrar registrar(kKernels);
}}}  // namespace kiln::cpu::(anonymous)
