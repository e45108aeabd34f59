// The loops of the CPU GEMM (gemm.h): BLIS's loops around the register-blocked micro-kernels of
// gemm_kernels.h, over operands read only through their packers, for the strided matrices of
// cpu::gemm (gemm.cc) and for anything else that is a matrix product in disguise (a convolution can
// pack its B panels straight from the image).
//
// The compute type C is float (float32 and the half types) or double. The operands are read only
// through their packers, so strides, broadcast batch dims, dtype conversion and implicit matrices
// (im2col) are the packers' business; the loops are:
//
//   for each unit (a batch index and a block of C's rows and columns, spread over the threads)
//     for jc in columns, step nc:          B panel kc x nc (L3)
//       for pc in K, step kc:
//         pack B[pc:+kc, jc:+nc] into nr-wide strips
//         for ic in rows, step mc:         A block mc x kc (L2)
//           pack A[ic:+mc, pc:+kc] into mr-tall strips
//           for jr, step nr: for ir, step mr: micro-kernel (kc x nr strip of B in L1)
//
// The micro-kernel adds straight into C when C is a row-major compute-type matrix ("direct"); an
// edge tile goes through a small tile first. Otherwise (half types, strided C) the unit's columns
// are accumulated in a compute-type scratch block and stored once at the end, so a half result is
// rounded once whatever K is.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include "gemm_kernels.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace blocked {

struct Dims {
  int64_t batch = 1, M = 0, N = 0, K = 0;
};

// Below this many flops a product stays on one thread (waking a worker costs microseconds; at
// ~90 GFLOP/s per core 2 MFLOP is ~20 µs of work).
constexpr double kFlopsPerThread = 2e6;
// Rows of C per unit when C is not written directly (bounds the scratch block: rows x nc).
constexpr int64_t kScratchRows = 512;

// A thread's 64-byte-aligned scratch buffer `slot` (0: A block, 1: B panel, 2: edge tile, 3: C
// block, 4: a caller's own, e.g. a convolution's column block) of at least `bytes`, kept between calls: page faults are expensive, so the buffers are
// allocated once per thread and grown when needed.
void* thread_buffer(int slot, size_t bytes);

template <typename C> C* buffer(int slot, int64_t n) { return static_cast<C*>(thread_buffer(slot, size_t(n) * sizeof(C))); }

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Operands (see matmul.cc's StridedOperand for the plain one):
//   a.pack_a(b, i0, mc, k0, kc, mr, dst)  rows [i0, i0+mc) x cols [k0, k0+kc) of batch b's A into
//                                         mr-tall strips dst[(s * kc + k) * mr + i], zero past mc
//   bm.pack_b(b, k0, kc, j0, nc, nr, dst) rows [k0, k0+kc) x cols [j0, j0+nc) of B into nr-wide
//                                         strips dst[(s * kc + k) * nr + j], zero past nc
// Output:
//   out.direct(b, &ldc) -> C of batch b as a row-major compute-type matrix (row pitch ldc), or nullptr
//   out.store(b, i0, j0, mc, nc, block, ldb)  C[i0:+mc, j0:+nc] = block (compute type, row pitch ldb),
//                                         or += block when out.accumulate
//   out.accumulate                        C += A · B instead of C = A · B
template <typename C, typename A, typename B, typename Out>
void run_unit(const MicroKernel<C>& mk, int64_t K, const A& a, const B& bm, const Out& out, int64_t b, int64_t i0, int64_t mt, int64_t j0, int64_t nt) {
  const int MR = mk.mr, NR = mk.nr;
  int64_t ldc = 0;
  C* const c = out.direct(b, &ldc);
  const int64_t ncmax = std::min(mk.nc, round_up(nt, NR));
  C* const apack = buffer<C>(0, mk.mc * mk.kc);
  C* const bpack = buffer<C>(1, mk.kc * ncmax);
  C* const tile = buffer<C>(2, int64_t(MR) * NR);
  C* const scratch = c ? nullptr : buffer<C>(3, round_up(mt, MR) * ncmax);
  for (int64_t jc = 0; jc < nt; jc += mk.nc) {
    const int64_t nc = std::min(mk.nc, nt - jc);
    C* const dst = c ? c + i0 * ldc + j0 + jc : scratch;
    const int64_t ldd = c ? ldc : round_up(nc, NR);
    if (K == 0 && !(c && out.accumulate)) {   // C = 0 (or a zero block that store adds)
      for (int64_t i = 0; i < mt; ++i) std::fill(dst + i * ldd, dst + i * ldd + nc, C(0));
    }
    for (int64_t pc = 0; pc < K; pc += mk.kc) {
      const int64_t kc = std::min(mk.kc, K - pc);
      const bool accumulate = pc > 0 || (c && out.accumulate);
      bm.pack_b(b, pc, kc, j0 + jc, nc, NR, bpack);
      for (int64_t ic = 0; ic < mt; ic += mk.mc) {
        const int64_t mc = std::min(mk.mc, mt - ic);
        a.pack_a(b, i0 + ic, mc, pc, kc, MR, apack);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const C* bs = bpack + jr * kc;
          const int cols = (int)std::min<int64_t>(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const C* as = apack + ir * kc;
            C* d = dst + (ic + ir) * ldd + jr;
            const int rows = (int)std::min<int64_t>(MR, mc - ir);
            if (!c || (rows == MR && cols == NR)) {   // the scratch block is padded to whole tiles
              mk.fn(kc, as, bs, d, ldd, accumulate);
              continue;
            }
            mk.fn(kc, as, bs, tile, NR, false);
            for (int i = 0; i < rows; ++i)
              for (int j = 0; j < cols; ++j) d[i * ldd + j] = (accumulate ? d[i * ldd + j] : C(0)) + tile[i * NR + j];
          }
        }
      }
    }
    if (!c) out.store(b, i0, j0 + jc, mt, nc, scratch, ldd);   // adds when out.accumulate
  }
}

// C[b] = A[b] · B[b] for b in [0, d.batch), over the CPU device's threads, with micro-kernel mk.
template <typename C, typename A, typename B, typename Out>
void run_with(const MicroKernel<C>& mk, const Dims& d, const A& a, const B& bm, const Out& out) {
  if (d.batch <= 0 || d.M <= 0 || d.N <= 0) return;
  // Units: each batch's C cut into ms x ns blocks. With several threads worth using, cut the larger
  // of M and N (packing the other operand is then repeated per unit: cutting the larger dimension
  // repeats the smaller operand), into about as many pieces as threads not covered by the batch.
  const double flops = 2.0 * double(d.batch) * double(d.M) * double(d.N) * double(std::max<int64_t>(d.K, 1));
  const int64_t useful = std::max<int64_t>(1, std::min<int64_t>(num_threads(), int64_t(flops / kFlopsPerThread)));
  const int64_t pieces = (useful + d.batch - 1) / d.batch;
  int64_t rows = d.M, cols = d.N;
  if (pieces > 1) {
    if (d.M >= d.N) rows = round_up((d.M + pieces - 1) / pieces, mk.mr);
    else cols = round_up((d.N + pieces - 1) / pieces, mk.nr);
  }
  int64_t ldc_probe = 0;
  if (!out.direct(0, &ldc_probe)) rows = std::min(rows, kScratchRows);
  const int64_t ms = (d.M + rows - 1) / rows, ns = (d.N + cols - 1) / cols;
  const int64_t units = d.batch * ms * ns;
  parallel_for(units, useful > 1 ? 1 : units, [&](int64_t ub, int64_t ue) {
    for (int64_t u = ub; u < ue; ++u) {
      const int64_t b = u / (ms * ns), mi = u / ns % ms, ni = u % ns;
      const int64_t i0 = mi * rows, j0 = ni * cols;
      run_unit<C>(mk, d.K, a, bm, out, b, i0, std::min(rows, d.M - i0), j0, std::min(cols, d.N - j0));
    }
  });
}

// The same with the micro-kernel of the instruction set in use.
template <typename C, typename A, typename B, typename Out>
void run(const Dims& d, const A& a, const B& bm, const Out& out) {
  run_with<C>(micro_kernel<C>(), d, a, bm, out);
}

}}}  // namespace kiln::cpu::blocked
