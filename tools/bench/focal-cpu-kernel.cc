// The CPU focal-loss row loop on its own, without Node: its time per element and the accuracy of
// the float32 formula against the float64 one (include/kiln/math/focal_loss.h), element by element
// through a vectorised loop, for logits over [-120, 120] (dense), the edges +-1e4, +-104, +-88 and
// 0, and 200,000 normal draws, with both targets and gamma 0, 0.25, 0.5, 1, 2, 5. For iterating on
// the formula without rebuilding the addon (the loop's per-element cost is hard to see through the
// Node benchmark on a loaded machine). From the repository root:
//
//   g++ -std=c++17 -O3 -march=x86-64-v2 -fno-math-errno -D__FAST_MATH__ -fno-trapping-math \
//       -fopenmp-simd -Inative/include tools/bench/focal-cpu-kernel.cc -o /tmp/focal-cpu-kernel -lmvec -lm
//   /tmp/focal-cpu-kernel
//
// (the flags of native/cpu/focal_loss.cc; add
// -DKILN_FOCAL_ROW_CLONES='target_clones("arch=x86-64-v3","default"),' to time the AVX2 clone on an
// AVX-512 machine, or -DKILN_FOCAL_ROW_CLONES= for the baseline build.) It prints the minimum
// over 40 runs of one thread over N = 20,000 rows of C = 80 (loss + gradient, and loss only),
// and per gamma the largest relative error |f32 - f64| / max(|f64|, 1e-30) of loss and gradient
// (f64: the same formula in double) with the z (= x, or -x for the positive class) where it occurs,
// and whether every value was finite.
#include <ctime>
#include <cstdio>
#include <cmath>
#include <random>
#include <vector>
#include <algorithm>
#include "kiln/math/focal_loss.h"
using namespace kiln::focal;

// CPU time of the calling thread, in ms.
static double thread_ms() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

// The addon's row loop itself (its clone list: KILN_FOCAL_ROW_CLONES, below).
#include "../../native/cpu/focal_row.h"
using kiln::cpu::focal_binary_rows;

// Per-element loss and gradient through the same kind of vectorised loop (the accuracy check).
template <typename T, typename PowG>
__attribute__((KILN_FOCAL_ROW_CLONES noinline)) void eval_row(const T* __restrict__ x, T* __restrict__ loss, T* __restrict__ grad, int C, int cls, T gamma,
                                                              T alpha) {
  const AlphaWeights<T> alpha_t(alpha);
#pragma omp simd
  for (int c = 0; c < C; ++c) {
    LossGrad<T> r = binary<T>(x[c], c == cls, gamma, alpha_t, PowG());
    loss[c] = r.loss;
    grad[c] = r.grad;
  }
}

template <typename PowG>
void acc_check(float gamma, const char* name) {
  std::vector<float> xs;
  for (float v = -120.f; v <= 120.f; v += 0.0009765625f * 3.3f) xs.push_back(v);
  for (float v :
       {-1e4f, -1e3f, -200.f, -104.f, -103.f, -100.f, -88.f, -87.5f, -30.f, -10.f, -1e-3f, -1e-8f, 0.f, 1e-8f, 1e-3f, 10.f, 30.f, 88.f, 100.f, 1e3f, 1e4f})
    xs.push_back(v);
  std::mt19937 g(1);
  std::normal_distribution<float> nd(0, 3);
  for (int i = 0; i < 200000; ++i) xs.push_back(nd(g));
  double ml = 0, mg = 0, xl = 0, xg = 0;
  bool fin = true;
  const int C = (int)xs.size();
  std::vector<float> L(C), G(C);
  for (int pos = 0; pos < 2; ++pos) {
    AlphaWeights<double> ad(0.25);
    // negatives: one long row with no positive class; positives: 16-element rows evaluated once
    // per lane as the positive (the last C % 16 values are left out)
    if (!pos) eval_row<float, PowG>(xs.data(), L.data(), G.data(), C, -1, gamma, 0.25f);
    else
      for (int b = 0; b + 16 <= C; b += 16)
        for (int l = 0; l < 16; ++l) {
          float lt[16], gt[16];
          eval_row<float, PowG>(xs.data() + b, lt, gt, 16, l, gamma, 0.25f);
          L[b + l] = lt[l];
          G[b + l] = gt[l];
        }
    for (int i = 0; i < C; ++i) {
      float v = xs[i];
      if (pos && i >= C / 16 * 16) continue;
      LossGrad<float> f{L[i], G[i]};
      LossGrad<double> d = binary<double>((double)v, pos, (double)gamma, ad, PowGammaRuntime());
      if (!std::isfinite(f.loss) || !std::isfinite(f.grad)) fin = false;
      // against the same formula in double (the tests compare with an independent JS reference)
      double el = std::fabs(f.loss - d.loss) / std::max(std::fabs(d.loss), 1e-30);
      double eg = std::fabs(f.grad - d.grad) / std::max(std::fabs(d.grad), 1e-30);
      if (el > ml) {
        ml = el;
        xl = v * (pos ? -1 : 1);
      }
      if (eg > mg) {
        mg = eg;
        xg = v * (pos ? -1 : 1);
      }
    }
  }
  printf("  gamma %-4g %-9s max rel err loss %.2e (z=%g) grad %.2e (z=%g) %s\n", gamma, name, ml, xl, mg, xg, fin ? "finite" : "NONFINITE");
}

int main() {
  const int N = 20000, C = 80;
  std::vector<float> x((size_t)N * C), grad((size_t)N * C);
  std::vector<int32_t> cls(N);
  std::mt19937 g(7);
  std::normal_distribution<float> nd(0, 3);
  std::uniform_real_distribution<float> u(0, 1);
  for (auto& v : x) v = nd(g);
  for (auto& c : cls) c = u(g) < 0.1f ? (int)(u(g) * C) : -1;
  double best = 1e9, bestng = 1e9;
  double s = 0;
  for (int rep = 0; rep < 40; ++rep) {
    const double t0 = thread_ms();
    double acc = 0;
    // runs of 64 rows (the addon calls it once per partial sum of about 8192 logits: 102 rows here)
    for (int n = 0; n < N; n += 64)
      acc +=
          focal_binary_rows<float, PowGamma2, true>(&x[(size_t)n * C], C, &grad[(size_t)n * C], C, &cls[n], std::min(64, N - n), C, 2.f, 0.25f, 1.f / (N * C));
    const double t1 = thread_ms();
    for (int n = 0; n < N; n += 64)
      acc += focal_binary_rows<float, PowGamma2, false>(&x[(size_t)n * C], C, nullptr, 0, &cls[n], std::min(64, N - n), C, 2.f, 0.25f, 1.f);
    const double t2 = thread_ms();
    s += acc;
    best = std::min(best, t1 - t0);
    bestng = std::min(bestng, t2 - t1);
  }
  printf("1 thread, N=%d C=%d: loss+grad min %.3f ms (%.3f ns/elt), loss only %.3f ms  [%g]\n", N, C, best, best * 1e6 / (N * C), bestng, s);
  acc_check<PowGamma2>(2, "powg2");
  for (float gm : {0.f, 0.25f, 0.5f, 1.f, 2.f, 5.f}) acc_check<PowGammaAny>(gm, "powgAny");
}
