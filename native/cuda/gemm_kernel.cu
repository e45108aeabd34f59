// Kiln's own CUDA matrix product (gemm.h's kiln_gemm; contract and compute types:
// include/kiln/math/matmul.h): a shared-memory tiled GEMM, used where cuBLASLt is missing or does
// not apply (integer dtypes, operands cuBLASLt cannot describe).
//
// A block of 256 threads computes a 64 x 64 tile of one batch's C. For each step of 16 along K it
// stages A's 64 x 16 and B's 16 x 64 sub-blocks in shared memory (converted to the compute type,
// zeros outside the matrices, so any M, N, K work, K = 0 included), then each thread accumulates a
// 4 x 4 sub-tile in registers. A thread's outputs are rows ty + 16 i and columns tx + 16 j, so a
// warp reads shared memory without bank conflicts and writes C's rows coalesced. Global loads are
// coalesced along whichever of an operand's two dims has stride 1 (a transposed operand is read
// along its rows). Tiles, batches and blocks beyond the grid limits are covered by grid-stride loops.
#include <algorithm>
#include "gemm.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4;
constexpr int kTileThreads = (BM / TM) * (BN / TN);   // 256
static_assert(BM == 16 * TM && BN == 16 * TN, "a 16 x 16 thread grid covers the tile");

template <typename S, typename C>
__global__ void __launch_bounds__(kTileThreads)
    bmm_kernel(mm::Problem P, const S* A, const S* B, S* Cout, int64_t mtiles, int64_t ntiles, bool a_k_unit, bool b_n_unit, bool accumulate) {
  __shared__ C As[BK][BM + 1];   // +1: column writes (A read along k) do not hit one bank
  __shared__ C Bs[BK][BN + 1];
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  for (int64_t b = blockIdx.z; b < P.batch; b += gridDim.z) {
    int64_t off[3];
    P.batch_offsets(b, off);
    const S* a = A + off[0];
    const S* bm = B + off[1];
    S* c = Cout + off[2];
    for (int64_t mt = blockIdx.y; mt < mtiles; mt += gridDim.y) {
      for (int64_t nt = blockIdx.x; nt < ntiles; nt += gridDim.x) {
        const int64_t m0 = mt * BM, n0 = nt * BN;
        C acc[TM][TN];
        for (int i = 0; i < TM; ++i)
          for (int j = 0; j < TN; ++j) acc[i][j] = C(0);
        for (int64_t k0 = 0; k0 < P.K; k0 += BK) {
          for (int e = t; e < BM * BK; e += kTileThreads) {
            const int mi = a_k_unit ? e / BK : e % BM, ki = a_k_unit ? e % BK : e / BM;
            const int64_t gm = m0 + mi, gk = k0 + ki;
            As[ki][mi] = (gm < P.M && gk < P.K) ? C(load(a + gm * P.a_m + gk * P.a_k)) : C(0);
          }
          for (int e = t; e < BK * BN; e += kTileThreads) {
            const int ki = b_n_unit ? e / BN : e % BK, ni = b_n_unit ? e % BN : e / BK;
            const int64_t gk = k0 + ki, gn = n0 + ni;
            Bs[ki][ni] = (gk < P.K && gn < P.N) ? C(load(bm + gk * P.b_k + gn * P.b_n)) : C(0);
          }
          __syncthreads();
#pragma unroll
          for (int kk = 0; kk < BK; ++kk) {
            C av[TM], bv[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) av[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < TN; ++j) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
              for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
          }
          __syncthreads();
        }
        for (int i = 0; i < TM; ++i) {
          const int64_t gm = m0 + ty + 16 * i;
          if (gm >= P.M) continue;
          for (int j = 0; j < TN; ++j) {
            const int64_t gn = n0 + tx + 16 * j;
            if (gn >= P.N) continue;
            S* out = c + gm * P.c_m + gn * P.c_n;
            store(out, accumulate ? acc[i][j] + C(load(out)) : acc[i][j]);
          }
        }
      }
    }
  }
}

template <typename S>
void launch(const GemmCall& g) {
  const mm::Problem& P = g.p;
  const int64_t mtiles = (P.M + BM - 1) / BM, ntiles = (P.N + BN - 1) / BN;
  const dim3 grid((unsigned)std::min<int64_t>(ntiles, 1LL << 30), (unsigned)std::min<int64_t>(mtiles, 65535), (unsigned)std::min<int64_t>(P.batch, 65535));
  bmm_kernel<S, mm::Acc<S>>
      <<<grid, kTileThreads, 0, stream_of(*g.call)>>>(P, (const S*)g.a, (const S*)g.b, (S*)g.c, mtiles, ntiles, P.a_k == 1, P.b_n == 1, g.accumulate);
  KILN_CUDA_CHECK(cudaGetLastError(), g.call->name);
}

}  // namespace

void kiln_gemm(const GemmCall& g) {
  if (g.p.batch == 0 || g.p.M == 0 || g.p.N == 0) return;
  // every numeric dtype; bool is a DTypeError
  KILN_DISPATCH_NUMERIC(g.dtype, g.call->name, launch<scalar_t>(g));
}

}}  // namespace kiln::cuda
