// The register-blocked micro-kernels of the CPU GEMM (gemm.h), one set per instruction set. The
// addon is compiled for x86-64-v2 (SSE4.2) and must run on any x86-64, so the wider kernels are
// compiled for their instruction set alone (gemm_avx2.cc, gemm_avx512.cc) and chosen at run time
// by what the processor supports (isa.h). Each file registers its set: no list to keep.
#pragma once
#include <cstdint>
#include "isa.h"

namespace kiln { namespace cpu {

// c[0, mr) x [0, nr) (row pitch ldc, unit column stride) = (accumulate ? c : 0) + a · b, where a
// is a packed strip of kc columns of mr values (a[k * mr + i]) and b a packed strip of kc rows of nr
// values (b[k * nr + j]), both 64-byte aligned; c is written in full (mr x nr).
template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, bool accumulate);

// A micro-kernel with its tile and the cache blocking that feeds it (BLIS's names): a kc x nr strip
// of B stays in L1 while the mc x kc block of A streams from L2; the kc x nc panel of B sits in L3.
template <typename T>
struct MicroKernel {
  MicroKernelFn<T> fn;
  int mr, nr;
  int64_t kc, mc, nc;   // mc is a multiple of mr, nc of nr
};

struct GemmKernels {
  Isa isa;
  const char* name;      // e.g. "avx2+fma 6x16 (float32), 6x8 (float64)"
  MicroKernel<float> f32;
  MicroKernel<double> f64;
};

// The set for cpu_isa(): the best registered one not above it.
const GemmKernels& gemm_kernels();
template <typename T> const MicroKernel<T>& micro_kernel();

struct GemmKernelsRegistrar {
  explicit GemmKernelsRegistrar(const GemmKernels& k);
};

}}  // namespace kiln::cpu
