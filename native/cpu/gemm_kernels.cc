// The table of GEMM micro-kernel sets (gemm_kernels.h): each instruction set's file registers its
// set at load time; each GEMM takes the best one for cpu_isa().
#include "gemm_kernels.h"
#include <stdexcept>

namespace kiln { namespace cpu {
namespace {

const GemmKernels* g_sets[3] = {nullptr, nullptr, nullptr};   // by Isa

const GemmKernels& choose() {
  for (int isa = (int)cpu_isa(); isa >= 0; --isa)
    if (g_sets[isa]) return *g_sets[isa];
  throw std::logic_error("no GEMM micro-kernels registered");   // gemm_baseline.cc always is
}

}  // namespace

GemmKernelsRegistrar::GemmKernelsRegistrar(const GemmKernels& k) { g_sets[(int)k.isa] = &k; }

const GemmKernels& gemm_kernels() { return choose(); }

template <> const MicroKernel<float>& micro_kernel<float>() { return gemm_kernels().f32; }
template <> const MicroKernel<double>& micro_kernel<double>() { return gemm_kernels().f64; }

}}  // namespace kiln::cpu
