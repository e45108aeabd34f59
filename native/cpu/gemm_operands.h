// Strided matrices as operands of the CPU GEMM's loops (gemm_loops.h): an A or B operand packed
// from any strides (transposed, sliced, broadcast), and a C written directly when it is a row-major
// compute-type matrix, else through the loops' compute-type blocks (converted, rounded once). The
// matrix of batch index b starts at base(b), a function the caller gives (batch strides, an
// image's channel group, ...).
#pragma once
#include <cstdint>
#include <type_traits>
#include "gemm_pack.h"

namespace kiln { namespace cpu { namespace blocked {

// Element [i][k] of batch b's matrix at base(b) + i rs + k cs.
template <typename S, typename BaseFn>
struct StridedMatrix {
  BaseFn base;
  int64_t rs, cs;

  template <typename C>
  void pack_a(int64_t b, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, C* dst) const {
    blocked::pack_a(base(b) + i0 * rs + k0 * cs, rs, cs, mc, kc, mr, dst);
  }
  template <typename C>
  void pack_b(int64_t b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int nr, C* dst) const {
    blocked::pack_b(base(b) + k0 * rs + j0 * cs, rs, cs, kc, nc, nr, dst);
  }
};

template <typename S, typename BaseFn>
StridedMatrix<S, BaseFn> strided_matrix(BaseFn base, int64_t rs, int64_t cs) {
  return StridedMatrix<S, BaseFn>{base, rs, cs};
}

// C of batch b at base(b) + i rs + j cs, of storage type S and compute type C. `accumulate`: C +=.
template <typename S, typename C, typename BaseFn>
struct StridedOutput {
  BaseFn base;
  int64_t rs, cs, N;   // N: the columns, for the overlap check
  bool accumulate;

  C* direct(int64_t b, int64_t* ldc) const {
    if constexpr (std::is_same_v<S, C>) {
      if (cs == 1 && rs >= N) {   // row-major rows that do not overlap
        *ldc = rs;
        return base(b);
      }
    }
    return nullptr;
  }
  void store(int64_t b, int64_t i0, int64_t j0, int64_t mc, int64_t nc, const C* block, int64_t ldb) const {
    S* c = base(b) + i0 * rs + j0 * cs;
    for (int64_t i = 0; i < mc; ++i)
      for (int64_t j = 0; j < nc; ++j) {
        S* o = c + i * rs + j * cs;
        kiln::store(o, accumulate ? C(load(o)) + block[i * ldb + j] : block[i * ldb + j]);
      }
  }
};

template <typename S, typename C, typename BaseFn>
StridedOutput<S, C, BaseFn> strided_output(BaseFn base, int64_t rs, int64_t cs, int64_t N, bool accumulate) {
  return StridedOutput<S, C, BaseFn>{base, rs, cs, N, accumulate};
}

}}}  // namespace kiln::cpu::blocked
