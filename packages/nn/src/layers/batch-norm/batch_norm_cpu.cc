// CPU kernels of batch normalisation (formulas and operands: batch_norm.h). The statistics and the
// backward sums split the channels across threads, each channel's sums taken in double, in order
// (the results do not depend on the number of threads); the elementwise kernels split the
// segments (one sample's values of one channel).
#include <algorithm>
#include "batch_norm.h"
#include "cpu/parallel.h"

namespace kiln { namespace nn {
namespace {

using cpu::parallel_for;

// Items per task for about 32k values each, at least one item of `per_item` values.
int64_t grain_for(int64_t per_item) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_item)); }

// Σ f(value, position) over channel ch's values, in double.
template <typename T, typename F> double channel_sum(const T* x, const BatchNormSizes& z, int64_t ch, const F& f) {
  double sum = 0;
  for (int64_t i = 0; i < z.n; ++i) {
    const int64_t base = (i * z.c + ch) * z.s;
    for (int64_t j = 0; j < z.s; ++j) sum += f(double(load(x + base + j)), base + j);
  }
  return sum;
}

struct Cpu {
  template <typename T> static void stats(KernelCall& c, const BatchNormSizes& z, bool running) {
    using P = compute_t<T>;
    const T* x = c.in(0).ptr<T>();
    P *mean = c.out(0).ptr<P>(), *rstd = c.out(1).ptr<P>();
    P *run_mean = running ? c.out(2).ptr<P>() : nullptr, *run_var = running ? c.out(3).ptr<P>() : nullptr;
    const P eps = P(c.attr(0)), factor = P(c.attr(1));
    const double count = double(z.count());
    parallel_for(z.c, grain_for(z.count()), [&](int64_t begin, int64_t end) {
      for (int64_t ch = begin; ch < end; ++ch) {
        const double m = channel_sum(x, z, ch, [](double v, int64_t) { return v; }) / count;
        const P var = P(channel_sum(x, z, ch, [m](double v, int64_t) { return (v - m) * (v - m); }) / count);
        mean[ch] = P(m);
        rstd[ch] = norm_rstd<P>(var, eps);
        if (running) {
          run_mean[ch] = bn_running<P>(run_mean[ch], P(m), factor);
          run_var[ch] = bn_running<P>(run_var[ch], bn_unbiased<P>(var, z.count()), factor);
        }
      }
    });
  }

  template <typename T> static void apply(KernelCall& c, const BatchNormSizes& z, const TensorArg* w, const TensorArg* b) {
    using P = compute_t<T>;
    const T* x = c.in(0).ptr<T>();
    const P *mean = c.in(1).ptr<P>(), *rstd = c.in(2).ptr<P>();
    T* y = c.out(0).ptr<T>();
    parallel_for(z.n * z.c, grain_for(z.s), [&](int64_t begin, int64_t end) {
      for (int64_t seg = begin; seg < end; ++seg) {
        const int64_t ch = seg % z.c;
        const P mu = mean[ch], rs = rstd[ch], wc = value_or<P>(w, ch, P(1)), bc = value_or<P>(b, ch, P(0));
        for (int64_t j = seg * z.s; j < (seg + 1) * z.s; ++j) store(y + j, norm_output<P>(P(load(x + j)), mu, rs, wc, bc));
      }
    });
  }

  template <typename T> static void backward_reduce(KernelCall& c, const BatchNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    const T *g = c.in(0).ptr<T>(), *x = c.in(1).ptr<T>();
    const P *mean = c.in(2).ptr<P>(), *rstd = c.in(3).ptr<P>();
    P *grad_w = c.out(0).ptr<P>(), *grad_b = c.out(1).ptr<P>(), *coef = c.out(2).ptr<P>();
    parallel_for(z.c, grain_for(z.count()), [&](int64_t begin, int64_t end) {
      for (int64_t ch = begin; ch < end; ++ch) {
        const double mu = double(mean[ch]);
        const double sum_g = channel_sum(g, z, ch, [](double v, int64_t) { return v; });
        const double sum_gc = channel_sum(g, z, ch, [x, mu](double v, int64_t at) { return v * (double(load(x + at)) - mu); });
        bn_backward_sums<P>(P(sum_g), P(sum_gc), rstd[ch], value_or<P>(w, ch, P(1)), z.count(), grad_w + ch, grad_b + ch, coef + 2 * ch);
      }
    });
  }

  template <typename T> static void backward_input(KernelCall& c, const BatchNormSizes& z, const TensorArg* w) {
    using P = compute_t<T>;
    const T *g = c.in(0).ptr<T>(), *x = c.in(1).ptr<T>();
    const P *mean = c.in(2).ptr<P>(), *rstd = c.in(3).ptr<P>(), *coef = c.in(4).ptr<P>();
    T* gx = c.out(0).ptr<T>();
    parallel_for(z.n * z.c, grain_for(z.s), [&](int64_t begin, int64_t end) {
      for (int64_t seg = begin; seg < end; ++seg) {
        const int64_t ch = seg % z.c;
        const P mu = mean[ch], rs = rstd[ch], wc = value_or<P>(w, ch, P(1)), k0 = coef[2 * ch], k1 = coef[2 * ch + 1];
        for (int64_t j = seg * z.s; j < (seg + 1) * z.s; ++j) store(gx + j, norm_grad_input<P>(P(load(g + j)), P(load(x + j)), mu, rs, wc, k0, k1));
      }
    });
  }
};

}  // namespace

KILN_KERNEL("batch_norm_stats", batch_norm_stats_entry<Cpu>);
KILN_KERNEL("batch_norm_apply", batch_norm_apply_entry<Cpu>);
KILN_KERNEL("batch_norm_backward_reduce", batch_norm_backward_reduce_entry<Cpu>);
KILN_KERNEL("batch_norm_backward_input", batch_norm_backward_input_entry<Cpu>);

}}  // namespace kiln::nn
