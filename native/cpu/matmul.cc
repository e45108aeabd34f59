// CPU kernels 'bmm' and 'linear' (contract and compute types: include/kiln/math/matmul.h): a cache-blocked GEMM
// in the style of GotoBLAS / BLIS.
//
// C is cut into tiles of MC x NC ("units"); the units of every batch are spread over the threads.
// For each block of KC along K a unit packs B's KC x NC panel into NR-wide strips and A's MC x KC
// block into MR-tall strips: contiguous, converted to the compute type and zero-padded at the
// edges (which is also how arbitrary strides and the half types are handled). A register-blocked
// MR x NR micro-kernel multiplies one A strip by one B strip, adding into a compute-type scratch
// tile of C (12 16-byte accumulators, 2 vectors of B and a broadcast of A: all in SSE registers).
// The scratch tile is converted and stored once at the end, so half results are rounded once and
// K = 0 stores zeros. Sizes: a B strip (KC x NR) stays in L1, the A block in L2, the B panel in L2.
#include <algorithm>
#include <cstring>
#include <memory>
#include "gemm.h"
#include "parallel.h"
#include "tensor_ops.h"

namespace kiln { namespace cpu {
namespace {

template <typename C> struct Vec16 {
  typedef C type __attribute__((vector_size(16)));   // GCC/Clang vector extension: SSE registers
  static constexpr int lanes = 16 / (int)sizeof(C);
};

template <typename C> struct Tiling {
  static constexpr int MR = 6;
  static constexpr int NR = 2 * Vec16<C>::lanes;   // 8 floats, 4 doubles / int64
  static constexpr int64_t KC = 256;
  static constexpr int64_t MC = MR * 12;           // 72 rows
  static constexpr int64_t NC = NR * 32;           // 256 float / 128 double columns (the tile's row pitch)
};

// c[0..MR)[0..NR) (row pitch ldc) += a-strip (kc x MR) · b-strip (kc x NR).
template <typename C>
void micro_kernel(int64_t kc, const C* __restrict a, const C* __restrict b, C* __restrict c, int64_t ldc) {
  using T = Tiling<C>;
  using V = typename Vec16<C>::type;
  constexpr int L = Vec16<C>::lanes, NV = T::NR / L;
  V acc[T::MR][NV];
  for (int i = 0; i < T::MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V{};
  for (int64_t k = 0; k < kc; ++k, a += T::MR, b += T::NR) {
    V bv[NV];
    for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + j * L, sizeof(V));
    for (int i = 0; i < T::MR; ++i) {
      const C ai = a[i];
      for (int j = 0; j < NV; ++j) acc[i][j] += bv[j] * ai;
    }
  }
  for (int i = 0; i < T::MR; ++i)
    for (int j = 0; j < NV; ++j) {
      V cv;
      std::memcpy(&cv, c + i * ldc + j * L, sizeof(V));
      cv += acc[i][j];
      std::memcpy(c + i * ldc + j * L, &cv, sizeof(V));
    }
}

// Rows [0, mc) x cols [0, kc) of the matrix at p (strides rs, cs) into MR-tall strips:
// dst[(strip * kc + k) * MR + i] = p[(strip * MR + i) * rs + k * cs], zero past mc.
template <typename S, typename C>
void pack_a(const S* p, int64_t rs, int64_t cs, int64_t mc, int64_t kc, C* dst) {
  constexpr int MR = Tiling<C>::MR;
  for (int64_t s = 0; s * MR < mc; ++s) {
    const int rows = (int)std::min<int64_t>(MR, mc - s * MR);
    for (int64_t k = 0; k < kc; ++k, dst += MR) {
      const S* q = p + s * MR * rs + k * cs;
      int i = 0;
      for (; i < rows; ++i) dst[i] = C(load(q + i * rs));
      for (; i < MR; ++i) dst[i] = C(0);
    }
  }
}

// Rows [0, kc) x cols [0, nc) of the matrix at p into NR-wide strips:
// dst[(strip * kc + k) * NR + j] = p[k * rs + (strip * NR + j) * cs], zero past nc.
template <typename S, typename C>
void pack_b(const S* p, int64_t rs, int64_t cs, int64_t kc, int64_t nc, C* dst) {
  constexpr int NR = Tiling<C>::NR;
  for (int64_t s = 0; s * NR < nc; ++s) {
    const int cols = (int)std::min<int64_t>(NR, nc - s * NR);
    for (int64_t k = 0; k < kc; ++k, dst += NR) {
      const S* q = p + k * rs + s * NR * cs;
      int j = 0;
      if (cs == 1) for (; j < cols; ++j) dst[j] = C(load(q + j));
      else for (; j < cols; ++j) dst[j] = C(load(q + j * cs));
      for (; j < NR; ++j) dst[j] = C(0);
    }
  }
}

template <typename C> C* aligned_buffer(std::unique_ptr<char[]>& hold, int64_t n) {
  hold.reset(new char[(size_t)n * sizeof(C) + 64]);
  uintptr_t p = reinterpret_cast<uintptr_t>(hold.get());
  return reinterpret_cast<C*>((p + 63) & ~uintptr_t(63));
}

}  // namespace

template <typename S>
void gemm(const mm::Problem& P, const S* A, const S* B, S* Cout, bool accumulate) {
  if (P.batch == 0 || P.M == 0 || P.N == 0) return;
  using C = mm::Acc<S>;
  using T = Tiling<C>;
  const int64_t mblocks = (P.M + T::MC - 1) / T::MC, nblocks = (P.N + T::NC - 1) / T::NC;
  const int64_t units = P.batch * mblocks * nblocks;
  const double flops = 2.0 * (double)P.batch * (double)P.M * (double)P.N * (double)std::max<int64_t>(P.K, 1);
  const int64_t grain = flops < 2e5 ? units : 1;   // small products: no thread wake-up
  parallel_for(units, grain, [&](int64_t ub, int64_t ue) {
    std::unique_ptr<char[]> ha, hb, hc;
    C* apack = aligned_buffer<C>(ha, T::MC * T::KC);
    C* bpack = aligned_buffer<C>(hb, T::KC * T::NC);
    C* tile = aligned_buffer<C>(hc, T::MC * T::NC);   // row pitch NC
    for (int64_t u = ub; u < ue; ++u) {
      const int64_t b = u / (mblocks * nblocks), mi = (u / nblocks) % mblocks, ni = u % nblocks;
      const int64_t i0 = mi * T::MC, j0 = ni * T::NC;
      const int64_t mc = std::min(T::MC, P.M - i0), nc = std::min(T::NC, P.N - j0);
      int64_t off[3];
      P.batch_offsets(b, off);
      const S* a = A + off[0] + i0 * P.a_m;
      const S* bm = B + off[1] + j0 * P.b_n;
      std::fill(tile, tile + T::MC * T::NC, C(0));
      for (int64_t k0 = 0; k0 < P.K; k0 += T::KC) {
        const int64_t kc = std::min(T::KC, P.K - k0);
        pack_b(bm + k0 * P.b_k, P.b_k, P.b_n, kc, nc, bpack);
        pack_a(a + k0 * P.a_k, P.a_m, P.a_k, mc, kc, apack);
        for (int64_t js = 0; js * T::NR < nc; ++js)
          for (int64_t is = 0; is * T::MR < mc; ++is)
            micro_kernel<C>(kc, apack + is * kc * T::MR, bpack + js * kc * T::NR, tile + is * T::MR * T::NC + js * T::NR, T::NC);
      }
      S* c = Cout + off[2] + i0 * P.c_m + j0 * P.c_n;
      for (int64_t i = 0; i < mc; ++i)
        for (int64_t j = 0; j < nc; ++j) {
          S* out = c + i * P.c_m + j * P.c_n;
          store(out, accumulate ? tile[i * T::NC + j] + C(load(out)) : tile[i * T::NC + j]);
        }
    }
  });
}

#define KILN_INSTANTIATE_GEMM(S) template void gemm<S>(const mm::Problem&, const S*, const S*, S*, bool);
KILN_INSTANTIATE_GEMM(float)
KILN_INSTANTIATE_GEMM(double)
KILN_INSTANTIATE_GEMM(Half)
KILN_INSTANTIATE_GEMM(BFloat16)
KILN_INSTANTIATE_GEMM(int32_t)
KILN_INSTANTIATE_GEMM(int64_t)
#undef KILN_INSTANTIATE_GEMM

namespace {

void bmm_kernel(KernelCall& c) {
  mm::Problem P = mm::make_problem(c);
  // every numeric dtype; bool is a DTypeError
  KILN_DISPATCH_NUMERIC(c.in(0).dtype, c.name, gemm<scalar_t>(P, c.in(0).ptr<scalar_t>(), c.in(1).ptr<scalar_t>(), c.out(0).ptr<scalar_t>(), false));
}
KILN_KERNEL("bmm", bmm_kernel);

// linear: the bmm product plus a bias [N] added to every row of the (contiguous) output C.
void linear_kernel(KernelCall& c) {
  KILN_CHECK((c.n_inputs == 2 || c.n_inputs == 3) && c.n_outputs == 1, Internal, c.name, "expected inputs A, B[, bias] and output C");
  TensorArg& C = c.out(0);
  mm::Problem P = mm::make_problem(c.in(0), c.in(1), C, c.name);
  KILN_CHECK(C.is_contiguous(), Internal, c.name, "the output must be contiguous");
  if (c.n_inputs == 3) mm::check_bias(c, c.in(2), P.N, C.dtype);
  KILN_DISPATCH_FLOATING(C.dtype, c.name, gemm<scalar_t>(P, c.in(0).ptr<scalar_t>(), c.in(1).ptr<scalar_t>(), C.ptr<scalar_t>(), false));
  if (c.n_inputs == 3 && C.numel > 0) add_channel_bias(c, C, c.in(2), C.numel / P.N, P.N, 1);
}
KILN_KERNEL("linear", linear_kernel);

}  // namespace
}}  // namespace kiln::cpu
