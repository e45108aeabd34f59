// CPU kernels of group normalisation (formulas and operands: group_norm.h). Each kernel splits the
// rows (one group of one sample) across threads; a row's sums are taken in double, in order, so
// the results do not depend on the number of threads.
#include <algorithm>
#include "cpu/parallel.h"
#include "group_norm.h"

namespace kiln { namespace nn {
namespace {

using cpu::parallel_for;

// Rows per task: about 32k values each, at least one row.
int64_t grain_of(const GroupNormSizes& z) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, z.m)); }

struct Cpu {
  template <typename T> static void stats(KernelCall& c, const GroupNormSizes& z) {
    using C = compute_t<T>;
    const T* x = c.in(0).ptr<T>();
    C *mean = c.out(0).ptr<C>(), *rstd = c.out(1).ptr<C>();
    const C eps = C(c.attr(1));
    parallel_for(z.rows(), grain_of(z), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = x + r * z.m;
        double sum = 0;
        for (int64_t i = 0; i < z.m; ++i) sum += double(load(row + i));
        const double m = sum / double(z.m);
        double sq = 0;
        for (int64_t i = 0; i < z.m; ++i) {
          const double d = double(load(row + i)) - m;
          sq += d * d;
        }
        store(mean + r, C(m));
        store(rstd + r, norm_rstd<C>(C(sq / double(z.m)), eps));
      }
    });
  }

  template <typename T> static void apply(KernelCall& c, const GroupNormSizes& z, const TensorArg* w, const TensorArg* b) {
    using C = compute_t<T>;
    const T* x = c.in(0).ptr<T>();
    const C *mean = c.in(1).ptr<C>(), *rstd = c.in(2).ptr<C>();
    T* y = c.out(0).ptr<T>();
    parallel_for(z.rows(), grain_of(z), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const C mu = C(load(mean + r)), rs = C(load(rstd + r));
        for (int64_t j = 0; j < z.per_group; ++j) {
          const int64_t ch = (r % z.groups) * z.per_group + j, base = r * z.m + j * z.s;
          const C wc = value_or<C>(w, ch, C(1)), bc = value_or<C>(b, ch, C(0));
          for (int64_t i = 0; i < z.s; ++i) store(y + base + i, norm_output<C>(C(load(x + base + i)), mu, rs, wc, bc));
        }
      }
    });
  }

  template <typename T> static void backward_reduce(KernelCall& c, const GroupNormSizes& z, const TensorArg* w) {
    using C = compute_t<T>;
    const T *g = c.in(0).ptr<T>(), *x = c.in(1).ptr<T>();
    const C *mean = c.in(2).ptr<C>(), *rstd = c.in(3).ptr<C>();
    C *s1 = c.out(0).ptr<C>(), *s2 = c.out(1).ptr<C>(), *coef = c.out(2).ptr<C>();
    parallel_for(z.rows(), grain_of(z), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const double mu = double(load(mean + r));
        double ws1 = 0, ws2 = 0;
        for (int64_t j = 0; j < z.per_group; ++j) {
          const int64_t ch = (r % z.groups) * z.per_group + j, base = r * z.m + j * z.s;
          double a = 0, d = 0;
          for (int64_t i = 0; i < z.s; ++i) {
            const double gi = double(load(g + base + i));
            a += gi;
            d += gi * (double(load(x + base + i)) - mu);
          }
          const int64_t nc = (r / z.groups) * z.c + ch;
          store(s1 + nc, C(a));
          store(s2 + nc, C(d));
          const double wc = double(value_or<C>(w, ch, C(1)));
          ws1 += wc * a;
          ws2 += wc * d;
        }
        C k[2];
        norm_coefficients<C>(C(load(rstd + r)), C(ws1), C(ws2), z.m, k);
        store(coef + 2 * r, k[0]);
        store(coef + 2 * r + 1, k[1]);
      }
    });
  }

  template <typename T> static void backward_input(KernelCall& c, const GroupNormSizes& z, const TensorArg* w) {
    using C = compute_t<T>;
    const T *g = c.in(0).ptr<T>(), *x = c.in(1).ptr<T>();
    const C *mean = c.in(2).ptr<C>(), *rstd = c.in(3).ptr<C>(), *coef = c.in(4).ptr<C>();
    T* gx = c.out(0).ptr<T>();
    parallel_for(z.rows(), grain_of(z), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const C mu = C(load(mean + r)), rs = C(load(rstd + r)), k0 = C(load(coef + 2 * r)), k1 = C(load(coef + 2 * r + 1));
        for (int64_t j = 0; j < z.per_group; ++j) {
          const int64_t ch = (r % z.groups) * z.per_group + j, base = r * z.m + j * z.s;
          const C wc = value_or<C>(w, ch, C(1));
          for (int64_t i = 0; i < z.s; ++i) store(gx + base + i, norm_grad_input<C>(C(load(g + base + i)), C(load(x + base + i)), mu, rs, wc, k0, k1));
        }
      }
    });
  }

  template <typename P> static void param_grads(KernelCall& c, const GroupNormSizes& z) {
    const P *s1 = c.in(0).ptr<P>(), *s2 = c.in(1).ptr<P>(), *rstd = c.in(2).ptr<P>();
    P *grad_w = c.out(0).ptr<P>(), *grad_b = c.out(1).ptr<P>();
    parallel_for(z.c, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, z.n)), [&](int64_t begin, int64_t end) {
      for (int64_t ch = begin; ch < end; ++ch) gn_param_grads<double>(s1, s2, rstd, z, ch, grad_w, grad_b);
    });
  }
};

}  // namespace

KILN_KERNEL("group_norm_stats", group_norm_stats_entry<Cpu>);
KILN_KERNEL("group_norm_apply", group_norm_apply_entry<Cpu>);
KILN_KERNEL("group_norm_backward_reduce", group_norm_backward_reduce_entry<Cpu>);
KILN_KERNEL("group_norm_backward_input", group_norm_backward_input_entry<Cpu>);
KILN_KERNEL("group_norm_param_grads", group_norm_param_grads_entry<Cpu>);

}}  // namespace kiln::nn
