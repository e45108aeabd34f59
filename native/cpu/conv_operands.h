// The operands of a convolution's matrix products, packed for the CPU GEMM (gemm_loops.h) straight
// from the image: no im2col matrix is ever formed. With K = C/g kh kw (a tap (c, i, j)) and
// L = OH OW (an output position l = (oh, ow)), for image n and group g:
//
//   forward          Y[n, g] (O/g x L)  = W[g] (O/g x K) · X̂[n, g] (K x L)
//   backward input   Ĝ[n, g] (K x L)    = W[g]ᵀ (K x O/g) · GY[n, g] (O/g x L),  GX = col2im(Ĝ)
//   backward weight  GW[g] (O/g x K)    = GY[g] (O/g x N L) · X̂[g]ᵀ (N L x K)
//
// where X̂[n, g][(c, i, j)][(oh, ow)] = x[n, g C/g + c, oh sh - ph + i dh, ow sw - pw + j dw] (0 in
// the padding) is the im2col matrix. The packers read X̂ from a zero-padded copy of the image in the
// compute type (PaddedImage: made once per call, it turns every window read into an in-bounds one
// and the half types into float once): a row of X̂ along l is then a strided run of a padded row
// (contiguous for stride 1), and in the channels-last copy a row of X̂ᵀ along the channels of one
// tap is contiguous too. So packing a panel is a few contiguous copies per strip row instead of a
// bounds check, a conversion and an index computation per element.
//
// The geometry is a conv::Conv2dShape-like struct G (fields N, C, H, W, O, kh, kw, OH, OW, sh, sw,
// ph, pw, dh, dw, groups).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include "gemm_pack.h"
#include "kiln/kernel.h"
#include "parallel.h"
#include "vector_clones.h"

namespace kiln { namespace cpu { namespace conv_gemm {

// The output columns [lo, hi) of tap column j that read inside the input row (0 <= w < W).
template <typename G>
inline void tap_columns(const G& s, int64_t j, int64_t* lo, int64_t* hi) {
  const int64_t first = s.pw - j * s.dw, last = s.W - 1 + s.pw - j * s.dw;   // ow sw in [first, last]
  *lo = first <= 0 ? 0 : std::min<int64_t>(s.OW, (first + s.sw - 1) / s.sw);
  *hi = last < 0 ? 0 : std::min<int64_t>(s.OW, last / s.sw + 1);
  if (*hi < *lo) *hi = *lo;
}

// x [N, C, H, W] (any strides, storage type S) padded by (ph, pw) with zeros, in compute type C:
// channels first ([N, C, Hp, Wp]) or last ([N, Hp, Wp, C]). `data` holds N C Hp Wp values.
template <typename C>
struct PaddedImage {
  C* data;
  int64_t Hp, Wp, Cn;
  bool channels_last;
  // element strides of (n, c, h, w)
  int64_t sn() const { return Cn * Hp * Wp; }
  int64_t sc() const { return channels_last ? 1 : Hp * Wp; }
  int64_t sh() const { return channels_last ? Wp * Cn : Wp; }
  int64_t sw() const { return channels_last ? Cn : 1; }
  static int64_t size(int64_t N, int64_t Cn, int64_t Hp, int64_t Wp) { return N * Cn * Hp * Wp; }

  template <typename S, typename G>
  void fill(const G& s, const TensorArg& x);
};

// Padded rows [r0, r1) (r = n Hp + hp, every channel) of p from x.
template <typename S, typename C, typename G>
KILN_VECTOR_CLONES void pad_rows(const G& s, const S* xp, const int64_t* xs, const PaddedImage<C>& p, int64_t r0, int64_t r1) {
  const int64_t Hp = p.Hp, Wp = p.Wp, Cn = p.Cn;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / Hp, hp = r % Hp, h = hp - s.ph;
    C* row = p.data + n * p.sn() + hp * p.sh();
    if (h < 0 || h >= s.H) {   // a padding row, all channels
      if (p.channels_last) std::fill(row, row + Wp * Cn, C(0));
      else
        for (int64_t c = 0; c < Cn; ++c) std::fill(row + c * p.sc(), row + c * p.sc() + Wp, C(0));
      continue;
    }
    const S* src = xp + n * xs[0] + h * xs[2];
    if (!p.channels_last) {
      for (int64_t c = 0; c < Cn; ++c) {
        C* __restrict d = row + c * p.sc();
        const S* __restrict sc_ = src + c * xs[1];
        std::fill(d, d + s.pw, C(0));
        if (xs[3] == 1)
          for (int64_t w = 0; w < s.W; ++w) d[s.pw + w] = C(load(sc_ + w));   // vectorised
        else
          for (int64_t w = 0; w < s.W; ++w) d[s.pw + w] = C(load(sc_ + w * xs[3]));
        std::fill(d + s.pw + s.W, d + Wp, C(0));
      }
    } else {   // pixel by pixel, its channels contiguous
      std::fill(row, row + s.pw * Cn, C(0));
      for (int64_t w = 0; w < s.W; ++w) {
        C* d = row + (s.pw + w) * Cn;
        const S* px = src + w * xs[3];
        for (int64_t c = 0; c < Cn; ++c) d[c] = C(load(px + c * xs[1]));
      }
      std::fill(row + (s.pw + s.W) * Cn, row + Wp * Cn, C(0));
    }
  }
}

template <typename C>
template <typename S, typename G>
void PaddedImage<C>::fill(const G& s, const TensorArg& x) {
  parallel_for(s.N * Hp, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, Wp * Cn)),
               [&](int64_t rb, int64_t re) { pad_rows<S, C, G>(s, x.ptr<S>(), x.strides, *this, rb, re); });
}

template <int N, typename C>
inline void copy_run(C* __restrict d, const C* __restrict src, int64_t len, int64_t stride) {
  if (stride == 1 && len == N) {
    std::memcpy(d, src, N * sizeof(C));   // a whole strip row: a fixed-size copy (vector moves)
  } else if (stride == 1) {
    std::memcpy(d, src, size_t(len) * sizeof(C));
  } else {
    for (int64_t k = 0; k < len; ++k) d[k] = src[k * stride];
  }
}

// X̂[n, g] as the forward product's B: rows k (taps (c, i, j)), columns l (output positions);
// batch b = n groups + g. Reads a channels-first padded image.
template <typename C, typename G>
struct ImageColumns {
  const G& s;
  const PaddedImage<C>& x;

  void pack_b(int64_t b, int64_t k0, int64_t kc, int64_t l0, int64_t nc, int nr, C* dst) const {
    blocked::with_width(nr, [&](auto w) { pack<decltype(w)::value>(b, k0, kc, l0, nc, dst); });
  }

  // Row kk of the panel, tap (c, i, j): the run of l in [l0, l0 + nc) output row by output row,
  // each row segment a (strided) run of the padded row, cut where the strips end.
  template <int NR>
  void pack(int64_t b, int64_t k0, int64_t kc, int64_t l0, int64_t nc, C* dst) const {
    const int64_t n = b / s.groups, g = b % s.groups, cg = s.C / s.groups;
    const int64_t taps = s.kh * s.kw, row_step = s.sh * x.sh();
    int64_t c = k0 / taps, i = k0 / s.kw % s.kh, j = k0 % s.kw;   // the tap of row kk, stepped below
    for (int64_t kk = 0; kk < kc; ++kk) {
      const C* tap = x.data + n * x.sn() + (g * cg + c) * x.sc() + i * s.dh * x.sh() + j * s.dw;   // position (0, 0)
      if (++j == s.kw) {
        j = 0;
        if (++i == s.kh) {
          i = 0;
          ++c;
        }
      }
      int64_t oh = l0 / s.OW, ow = l0 % s.OW;
      C* d = dst + kk * NR;
      int jj = 0;
      for (int64_t done = 0; done < nc;) {
        const int64_t len = std::min<int64_t>({s.OW - ow, NR - jj, nc - done});
        copy_run<NR>(d + jj, tap + oh * row_step + ow * s.sw, len, s.sw);
        done += len;
        jj += (int)len;
        ow += len;
        if (jj == NR) {
          jj = 0;
          d += kc * NR;
        }
        if (ow == s.OW) {
          ow = 0;
          ++oh;
        }
      }
      for (; jj > 0 && jj < NR; ++jj) d[jj] = C(0);   // the last strip's columns past nc
    }
  }
};

// X̂[g]ᵀ of all images as the weight gradient's B: rows r = n L + l, columns k' = (i, j, c) (the
// channel fastest, so that a tap's channels are one contiguous run of the channels-last padded
// image); batch b = g. The product's columns come out in (i, j, c) order: the caller reorders them.
template <typename C, typename G>
struct ImageRows {
  const G& s;
  const PaddedImage<C>& x;

  void pack_b(int64_t g, int64_t r0, int64_t kc, int64_t k0, int64_t nc, int nr, C* dst) const {
    blocked::with_width(nr, [&](auto w) { pack<decltype(w)::value>(g, r0, kc, k0, nc, dst); });
  }

  template <int NR>
  void pack(int64_t g, int64_t r0, int64_t kc, int64_t k0, int64_t nc, C* dst) const {
    const int64_t cg = s.C / s.groups, L = s.OH * s.OW;
    for (int64_t q = 0; q < nc; q += NR, dst += kc * NR) {
      // The strip's columns as runs of consecutive channels within one tap: (offset from the
      // position's pixel, first column, length).
      int64_t off[NR + 1], col[NR + 1], len[NR + 1];
      int runs = 0;
      const int cols = (int)std::min<int64_t>(NR, nc - q);
      for (int jj = 0; jj < cols;) {
        const int64_t kp = k0 + q + jj, c = kp % cg, tap = kp / cg, i = tap / s.kw, j = tap % s.kw;
        const int64_t n_run = std::min<int64_t>(cg - c, cols - jj);
        off[runs] = i * s.dh * x.sh() + j * s.dw * x.sw() + g * cg + c;
        col[runs] = jj;
        len[runs] = n_run;
        ++runs;
        jj += (int)n_run;
      }
      int64_t n = r0 / L, l = r0 % L, oh = l / s.OW, ow = l % s.OW;
      C* d = dst;
      for (int64_t rr = 0; rr < kc; ++rr, d += NR) {
        const C* pixel = x.data + n * x.sn() + oh * s.sh * x.sh() + ow * s.sw * x.sw();
        for (int t = 0; t < runs; ++t) std::memcpy(d + col[t], pixel + off[t], size_t(len[t]) * sizeof(C));
        for (int jj = cols; jj < NR; ++jj) d[jj] = C(0);
        if (++ow == s.OW) {
          ow = 0;
          if (++oh == s.OH) {
            oh = 0;
            ++n;
          }
        }
      }
    }
  }
};

// GY[g] of all images as the weight gradient's A: rows i (the group's output channels), columns
// r = n L + l; gy [N, O, OH, OW] with strides gs, read in the compute type.
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
    const bool flat = gs[3] == 1 && (s.OH == 1 || gs[2] == s.OW);   // (oh, ow) flatten to l
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
          if (flat) {
            for (int64_t k = 0; k < len; ++k) d[(rr + k) * MR] = C(load(img + l + k));
          } else {
            int64_t oh = l / s.OW, ow = l % s.OW;
            for (int64_t k = 0; k < len; ++k) {
              d[(rr + k) * MR] = C(load(img + oh * gs[2] + ow * gs[3]));
              if (++ow == s.OW) {
                ow = 0;
                ++oh;
              }
            }
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
