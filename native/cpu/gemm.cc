// cpu::gemm (gemm.h): the strided operands of an mm::Problem for the GEMM loops (gemm_loops.h),
// and a plain loop for the integer dtypes.
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
#include "gemm_pack.h"

namespace kiln { namespace cpu {
namespace {

// Operand A (which = 0) or B (which = 1) of batch b: the strided matrix at base + its batch offset.
template <typename S>
struct StridedOperand {
  const S* base;
  const mm::Problem* P;
  int which;
  int64_t rs, cs;   // row and column strides of the matrix

  const S* matrix(int64_t b) const {
    int64_t off[3];
    P->batch_offsets(b, off);
    return base + off[which];
  }
  template <typename C>
  void pack_a(int64_t b, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, C* dst) const {
    blocked::pack_a(matrix(b) + i0 * rs + k0 * cs, rs, cs, mc, kc, mr, dst);
  }
  template <typename C>
  void pack_b(int64_t b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, C* dst) const {
    blocked::pack_b(matrix(b) + k0 * rs + j0 * cs, rs, cs, kc, nc, nr, dst);
  }
};

// The output C: written directly when its elements are the compute type and its rows are unit-stride
// and do not overlap; otherwise stored (converted) from the GEMM's compute-type blocks.
template <typename S>
struct StridedOutput {
  using C = mm::Acc<S>;
  S* base;
  const mm::Problem* P;
  bool accumulate;

  S* matrix(int64_t b) const {
    int64_t off[3];
    P->batch_offsets(b, off);
    return base + off[2];
  }
  C* direct(int64_t b, int64_t* ldc) const {
    if constexpr (std::is_same_v<S, C>) {
      if (P->c_n == 1 && P->c_m >= P->N) {
        *ldc = P->c_m;
        return matrix(b);
      }
    }
    return nullptr;
  }
  void store(int64_t b, int64_t i0, int64_t j0, int64_t mc, int64_t nc, const C* block, int64_t ldb) const {
    S* c = matrix(b) + i0 * P->c_m + j0 * P->c_n;
    for (int64_t i = 0; i < mc; ++i)
      for (int64_t j = 0; j < nc; ++j) {
        S* o = c + i * P->c_m + j * P->c_n;
        kiln::store(o, accumulate ? C(load(o)) + block[i * ldb + j] : block[i * ldb + j]);
      }
  }
};

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
    const StridedOperand<S> a{A, &P, 0, P.a_m, P.a_k}, b{B, &P, 1, P.b_k, P.b_n};
    const StridedOutput<S> out{C, &P, accumulate};
    blocked::run<mm::Acc<S>>(blocked::Dims{P.batch, P.M, P.N, P.K}, a, b, out);
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
