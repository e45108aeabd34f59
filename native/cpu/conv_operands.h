// The operands of a convolution's matrix products, packed for the CPU GEMM (gemm_loops.h) straight
// from the tensors: no im2col matrix is ever formed. With K = C/g kh kw (a tap k = (c, i, j)) and
// L = OH OW (an output position l = (oh, ow)), for image n and group g:
//
//   forward          Y[n, g] (O/g x L)  = W[g] (O/g x K) · X̂[n, g] (K x L)
//   backward input   Ĝ[n, g] (K x L)    = W[g]ᵀ (K x O/g) · GY[n, g] (O/g x L),  GX = col2im(Ĝ)
//   backward weight  GW[g] (O/g x K)    = GY[g] (O/g x N L) · X̂[g]ᵀ (N L x K)
//
// where X̂[n, g][k][l] = x[n, g C/g + c, oh sh - ph + i dh, ow sw - pw + j dw] (0 in the padding) is
// the im2col matrix. Its packers below (ImageColumns for X̂ as the forward's B, ImageRows for X̂ᵀ as
// the weight gradient's B) read the image where the packed strip wants it, so the columns cost one
// pass over the image per panel instead of an im2col write, a read and a pack.
//
// The geometry is a conv::Conv2dShape-like struct G (fields N, C, H, W, O, kh, kw, OH, OW, sh, sw,
// ph, pw, dh, dw, groups); x may have any strides.
#pragma once
#include <algorithm>
#include <cstdint>
#include "gemm_pack.h"
#include "kiln/kernel.h"

namespace kiln { namespace cpu { namespace conv_gemm {

// The output columns [lo, hi) of tap column j that read inside the input row (0 <= w < W).
template <typename G>
inline void tap_columns(const G& s, int64_t j, int64_t* lo, int64_t* hi) {
  const int64_t first = s.pw - j * s.dw, last = s.W - 1 + s.pw - j * s.dw;   // ow sw in [first, last]
  *lo = first <= 0 ? 0 : std::min<int64_t>(s.OW, (first + s.sw - 1) / s.sw);
  *hi = last < 0 ? 0 : std::min<int64_t>(s.OW, last / s.sw + 1);
  if (*hi < *lo) *hi = *lo;
}

// The tap k = (c, i, j) of a group's K = C/g kh kw, stepped one at a time (no division per step).
struct Tap {
  int64_t c, i, j;
  template <typename G> Tap(const G& s, int64_t k) : c(k / (s.kh * s.kw)), i(k / s.kw % s.kh), j(k % s.kw) {}
  template <typename G> void next(const G& s) {
    if (++j < s.kw) return;
    j = 0;
    if (++i < s.kh) return;
    i = 0;
    ++c;
  }
};

// Writes values v(l) for output positions l in [l0, l0 + nc) into NR-wide strips of row kk of a
// packed panel of depth kc: dst[((l - l0) / NR * kc + kk) * NR + (l - l0) % NR], walking the
// output rows oh: run(oh, ow_a, ow_b, d) fills d[0 .. ow_b - ow_a) for that row segment (a segment
// never crosses a strip).
template <int NR, typename C, typename G, typename Run>
inline void for_row_segments(const G& s, int64_t l0, int64_t nc, int64_t kc, int64_t kk, C* dst, const Run& run) {
  int64_t oh = l0 / s.OW, ow = l0 % s.OW;
  C* d = dst + kk * NR;
  int jj = 0;
  for (int64_t done = 0; done < nc;) {
    const int64_t len = std::min<int64_t>({s.OW - ow, NR - jj, nc - done});
    run(oh, ow, ow + len, d + jj);
    done += len;
    jj += (int)len;
    ow += len;
    if (jj == NR) { jj = 0; d += kc * NR; }
    if (ow == s.OW) { ow = 0; ++oh; }
  }
  for (; jj > 0 && jj < NR; ++jj) d[jj] = C(0);   // the last strip's columns past nc
}

// X̂[n, g] as the forward product's B: rows k (taps), columns l (output positions); batch b = n G + g.
template <typename S, typename G>
struct ImageColumns {
  const G& s;
  const S* x;
  const int64_t* xs;   // x's strides [n, c, h, w]

  template <typename C>
  void pack_b(int64_t b, int64_t k0, int64_t kc, int64_t l0, int64_t nc, int nr, C* dst) const {
    blocked::with_width(nr, [&](auto w) { pack<decltype(w)::value>(b, k0, kc, l0, nc, dst); });
  }

  template <int NR, typename C>
  void pack(int64_t b, int64_t k0, int64_t kc, int64_t l0, int64_t nc, C* dst) const {
    const int64_t n = b / s.groups, g = b % s.groups, cg = s.C / s.groups;
    const S* image = x + n * xs[0] + g * cg * xs[1];
    Tap t(s, k0);
    for (int64_t kk = 0; kk < kc; ++kk, t.next(s)) {
      const S* plane = image + t.c * xs[1];
      int64_t lo, hi;
      tap_columns(s, t.j, &lo, &hi);
      const int64_t w0 = t.j * s.dw - s.pw, step = s.sw * xs[3];
      for_row_segments<NR>(s, l0, nc, kc, kk, dst, [&](int64_t oh, int64_t a, int64_t e, C* d) {
        const int64_t h = oh * s.sh - s.ph + t.i * s.dh;
        const int64_t va = std::max(a, lo), ve = std::min(e, hi);
        if (h < 0 || h >= s.H || va >= ve) {
          for (int64_t ow = a; ow < e; ++ow) d[ow - a] = C(0);
          return;
        }
        const S* src = plane + h * xs[2] + (va * s.sw + w0) * xs[3];   // input of column va
        for (int64_t ow = a; ow < va; ++ow) d[ow - a] = C(0);
        if (step == 1) for (int64_t ow = va; ow < ve; ++ow) d[ow - a] = C(load(src + (ow - va)));
        else for (int64_t ow = va; ow < ve; ++ow) d[ow - a] = C(load(src + (ow - va) * step));
        for (int64_t ow = ve; ow < e; ++ow) d[ow - a] = C(0);
      });
    }
  }
};

// X̂[g]ᵀ of all images as the weight gradient's B: rows r = n L + l (positions of every image),
// columns k (taps); batch b = g.
template <typename S, typename G>
struct ImageRows {
  const G& s;
  const S* x;
  const int64_t* xs;

  template <typename C>
  void pack_b(int64_t g, int64_t r0, int64_t kc, int64_t k0, int64_t nc, int nr, C* dst) const {
    blocked::with_width(nr, [&](auto w) { pack<decltype(w)::value>(g, r0, kc, k0, nc, dst); });
  }

  // Strip by strip, tap by tap (a strip column): the tap's values for positions r0 .. r0 + kc,
  // image row by image row, written down the strip column (stride NR).
  template <int NR, typename C>
  void pack(int64_t g, int64_t r0, int64_t kc, int64_t k0, int64_t nc, C* dst) const {
    const int64_t cg = s.C / s.groups, L = s.OH * s.OW;
    Tap t(s, k0);
    for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
      const int cols = (int)std::min<int64_t>(NR, nc - q);
      for (int jj = 0; jj < NR; ++jj) {
        C* d = dst + jj;
        if (jj >= cols) {
          for (int64_t rr = 0; rr < kc; ++rr) d[rr * NR] = C(0);
          continue;
        }
        int64_t lo, hi;
        tap_columns(s, t.j, &lo, &hi);
        const int64_t w0 = t.j * s.dw - s.pw, step = s.sw * xs[3];
        int64_t n = r0 / L, l = r0 % L, oh = l / s.OW, ow = l % s.OW;
        for (int64_t rr = 0; rr < kc;) {
          const int64_t len = std::min<int64_t>(s.OW - ow, kc - rr);
          const int64_t h = oh * s.sh - s.ph + t.i * s.dh;
          const int64_t va = std::max(ow, lo), ve = std::min(ow + len, hi);
          C* out = d + rr * NR;
          if (h < 0 || h >= s.H || va >= ve) {
            for (int64_t k = 0; k < len; ++k) out[k * NR] = C(0);
          } else {
            const S* src = x + n * xs[0] + (g * cg + t.c) * xs[1] + h * xs[2] + (va * s.sw + w0) * xs[3];
            int64_t k = 0;
            for (; ow + k < va; ++k) out[k * NR] = C(0);
            for (; ow + k < ve; ++k) out[k * NR] = C(load(src + (ow + k - va) * step));
            for (; k < len; ++k) out[k * NR] = C(0);
          }
          rr += len;
          ow += len;
          if (ow == s.OW) {
            ow = 0;
            if (++oh == s.OH) { oh = 0; ++n; }
          }
        }
        t.next(s);
      }
    }
  }
};

// GY[g] of all images as the weight gradient's A: rows i (the group's output channels), columns
// r = n L + l; gy [N, O, OH, OW] with strides gs.
template <typename S, typename G>
struct GradRows {
  const G& s;
  const S* gy;
  const int64_t* gs;

  template <typename C>
  void pack_a(int64_t g, int64_t i0, int64_t mc, int64_t r0, int64_t kc, int mr, C* dst) const {
    blocked::with_width(mr, [&](auto w) { pack<decltype(w)::value>(g, i0, mc, r0, kc, dst); });
  }

  template <int MR, typename C>
  void pack(int64_t g, int64_t i0, int64_t mc, int64_t r0, int64_t kc, C* dst) const {
    const int64_t og = s.O / s.groups, L = s.OH * s.OW;
    for (int64_t m = 0; m < mc; m += MR, dst += kc * MR) {
      const int rows = (int)std::min<int64_t>(MR, mc - m);
      for (int ii = 0; ii < MR; ++ii) {
        C* d = dst + ii;
        if (ii >= rows) {
          for (int64_t rr = 0; rr < kc; ++rr) d[rr * MR] = C(0);
          continue;
        }
        const S* chan = gy + (g * og + i0 + m + ii) * gs[1];
        int64_t n = r0 / L, l = r0 % L;
        for (int64_t rr = 0; rr < kc;) {
          const int64_t len = std::min<int64_t>(L - l, kc - rr);
          const S* img = chan + n * gs[0];
          int64_t oh = l / s.OW, ow = l % s.OW;
          for (int64_t k = 0; k < len; ++k) {
            d[(rr + k) * MR] = C(load(img + oh * gs[2] + ow * gs[3]));
            if (++ow == s.OW) { ow = 0; ++oh; }
          }
          rr += len;
          l = 0;
          ++n;
        }
      }
    }
  }
};

}}}  // namespace kiln::cpu::conv_gemm
