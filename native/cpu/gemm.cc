// cpu::gemm (gemm.h): an mm::Problem's operands as strided matrices for the GEMM loops
// (gemm_operands.h, gemm_loops.h), and a plain loop for the integer dtypes.
//
// Floating dtypes: A and B are strided matrices whose packing absorbs any strides (transposed,
// sliced, broadcast batch dims) and converts the half types to float; C is written directly when it
// is a row-major float32 / float64 matrix, else through a float / double block rounded once.
// Integers (rare in a matrix product): one output row per step, summed in uint64 (wrapping, defined)
// and stored wrapped (int32 results wrap on store, as PyTorch's CPU does).
#include "gemm.h"
#include <type_traits>
#include <vector>
#include "gemm_loops.h"
#include "gemm_operands.h"

namespace kiln { namespace cpu {
namespace {

template <typename S>
void integer_gemm(const mm::Problem& P, const S* A, const S* B, S* C, bool accumulate) {
  const int64_t rows = P.batch * P.M, work = std::max<int64_t>(1, P.N * P.K);
  parallel_for(rows, std::max<int64_t>(1, kGrain / work), [&](int64_t rb, int64_t re) {
    std::vector<uint64_t> acc((size_t)P.N);
    for (int64_t r = rb; r < re; ++r) {
      const int64_t b = r / P.M, i = r % P.M;
      int64_t off[3];
      P.batch_offsets(b, off);
      const S* a = A + off[0] + i * P.a_m;
      const S* bm = B + off[1];
      S* c = C + off[2] + i * P.c_m;
      for (int64_t j = 0; j < P.N; ++j) acc[j] = accumulate ? uint64_t(int64_t(c[j * P.c_n])) : 0;
      for (int64_t k = 0; k < P.K; ++k) {
        const uint64_t aik = uint64_t(int64_t(a[k * P.a_k]));
        const S* brow = bm + k * P.b_k;
        for (int64_t j = 0; j < P.N; ++j) acc[j] += aik * uint64_t(int64_t(brow[j * P.b_n]));
      }
      for (int64_t j = 0; j < P.N; ++j) c[j * P.c_n] = S(int64_t(acc[j]));
    }
  });
}

}  // namespace

template <typename S>
void gemm(const mm::Problem& P, const S* A, const S* B, S* C, bool accumulate) {
  if (P.batch == 0 || P.M == 0 || P.N == 0) return;
  if constexpr (std::is_integral_v<S>) {
    integer_gemm(P, A, B, C, accumulate);
  } else {
    // batch b's matrices: the operands' bases plus the batch offsets
    auto offset = [&P](int64_t b, int t) {
      int64_t off[3];
      P.batch_offsets(b, off);
      return off[t];
    };
    const auto a = blocked::strided_matrix<S>([&](int64_t b) { return A + offset(b, 0); }, P.a_m, P.a_k);
    const auto bm = blocked::strided_matrix<S>([&](int64_t b) { return B + offset(b, 1); }, P.b_k, P.b_n);
    const auto out = blocked::strided_output<S, mm::Acc<S>>([&](int64_t b) { return C + offset(b, 2); }, P.c_m, P.c_n, P.N, accumulate);
    blocked::run<mm::Acc<S>>(blocked::Dims{P.batch, P.M, P.N, P.K}, a, bm, out);
  }
}

#define KILN_INSTANTIATE_GEMM(S) template void gemm<S>(const mm::Problem&, const S*, const S*, S*, bool);
KILN_INSTANTIATE_GEMM(float)
KILN_INSTANTIATE_GEMM(double)
KILN_INSTANTIATE_GEMM(Half)
KILN_INSTANTIATE_GEMM(BFloat16)
KILN_INSTANTIATE_GEMM(int32_t)
KILN_INSTANTIATE_GEMM(int64_t)
#undef KILN_INSTANTIATE_GEMM

}}  // namespace kiln::cpu
