// CPU kernels of the sigmoid focal loss (the math: include/kiln/math/focal_loss.h; the argument
// layout: include/kiln/focal_loss_args.h). The CUDA twins are in cuda/focal_loss.cu.
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <string>
#include "kiln/focal_loss_args.h"
#include "focal_row.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace {
using namespace kiln::focal;

// Remembers the first invalid target seen by any thread, thrown after the parallel loop
// (exceptions must not leave an OpenMP region).
struct FirstBadTarget {
  std::atomic<bool> seen{false};
  TargetCheck check;
  void note(const TargetCheck& c) {
    bool expected = false;
    if (c.bad && seen.compare_exchange_strong(expected, true)) check = c;
  }
  void raise(const KernelCall& call, const Args& a) const {
    if (!seen.load()) return;
    std::string v = check.is_float ? std::to_string(check.value) : std::to_string((long long)check.value);
    fail_arg(ErrorKind::Value, call.name, "target", target_expectation(a.kind, a.C), v);
  }
};

// Visits elements [b, e) of the row-major N x C index space as (n, c) pairs.
template <typename F>
inline void for_range(int64_t C, int64_t b, int64_t e, const F& f) {
  if (b >= e) return;
  int64_t n = b / C, c = b % C;
  for (int64_t i = b; i < e; ++i) {
    f(n, c);
    if (++c == C) {
      c = 0;
      ++n;
    }
  }
}

// Partials per thread task so that each task has about kGrain elements (small inputs stay on the
// calling thread).
inline int64_t partial_grain(int64_t total, int64_t P) {
  int64_t per = std::max<int64_t>(1, total / std::max<int64_t>(P, 1));
  return std::max<int64_t>(1, kGrain / per);
}

template <typename T>
double binary_rows_dispatch(const T* x, int64_t ldx, T* grad, int64_t ldg, const int32_t* cls, int rows, int C, T gamma, T alpha, T scale) {
  if (gamma == T(2))
    return grad ? focal_binary_rows<T, PowGamma2, true>(x, ldx, grad, ldg, cls, rows, C, gamma, alpha, scale)
                : focal_binary_rows<T, PowGamma2, false>(x, ldx, grad, ldg, cls, rows, C, gamma, alpha, scale);
  return grad ? focal_binary_rows<T, PowGammaAny, true>(x, ldx, grad, ldg, cls, rows, C, gamma, alpha, scale)
              : focal_binary_rows<T, PowGammaAny, false>(x, ldx, grad, ldg, cls, rows, C, gamma, alpha, scale);
}

// Row n's index target (focal::row_target), an invalid one noted in chk.
template <typename TT>
RowTarget checked_row_target(const Args& a, int64_t n, TargetCheck& chk) {
  RowTarget r = row_target<TT>(a, n);
  if (r.invalid) {
    chk.bad = true;
    chk.value = (double)r.raw;
  }
  return r;
}

// Chunks per thread for the row loop: uniform work with no set-up per chunk, so small chunks cost
// nothing, and a worker that starts late leaves the caller less to finish alone (the median of the
// 1.6M-element loss on two threads: 0.95 ms with 4 chunks per thread, 0.91 with 16).
constexpr int64_t kFineChunks = 16;

template <typename T, typename TT>
bool try_fast_rows(const Args& a, double* partials, int64_t P, T* grad, const TensorArg* g, double scale, FirstBadTarget& bad) {
  if constexpr (!std::is_same<T, float>::value && !std::is_same<T, double>::value) return false;
  else if constexpr (!std::is_integral<TT>::value) return false;
  else {
    if (a.has_weight || a.has_class_weight || a.x.s1 != 1 || (g && g->strides[1] != 1) || a.C > INT32_MAX) return false;
    // runs of rows, at least 64 and about 16384 logits each (short rows: more rows per call, since
    // contiguous rows are one flat run for the loop): their classes gathered (kSkippedRow for an
    // ignored or invalid target), then one call of the row loop
    constexpr int64_t kRunLogits = 16384;
    const int64_t run = std::max<int64_t>(64, kRunLogits / a.C);
    // P partials over rows: partial p covers rows [N*p/P, N*(p+1)/P).
    auto partials_of = [&](int64_t pb, int64_t pe) {
      TargetCheck chk;
      int32_t cls[kRunLogits];
      for (int64_t p = pb; p < pe; ++p) {
        double acc = 0;
        for (int64_t n0 = a.N * p / P, n_end = a.N * (p + 1) / P; n0 < n_end; n0 += run) {
          const int64_t rows = std::min(run, n_end - n0);
          for (int64_t r = 0; r < rows; ++r) {
            const RowTarget row = checked_row_target<TT>(a, n0 + r, chk);
            cls[r] = row.invalid || row.ignored ? kSkippedRow : row.cls;
          }
          acc += binary_rows_dispatch<T>(reinterpret_cast<const T*>(a.x.data) + n0 * a.x.s0, a.x.s0, grad ? grad + n0 * g->strides[0] : nullptr,
                                         g ? g->strides[0] : 0, cls, (int)rows, (int)a.C, (T)a.gamma, (T)a.alpha, (T)scale);
        }
        partials[p] = acc;
      }
      bad.note(chk);
    };
    parallel_for(P, partial_grain(a.N * a.C, P), partials_of, kFineChunks);
    return true;
  }
}

// forward: outputs [loss [N, C] | partial sums [P] (float64)] (+ grad [N, C]);
// attrs 6: reduce (0 elementwise loss, 1 partial sums), 7: write grad, 8: P (partial count).
void forward(KernelCall& call) {
  Args a = decode(call);
  bool reduce = call.attr(6) != 0, want_grad = call.attr(7) != 0;
  int64_t P = call.int_attr(8);
  TensorArg& out = call.out(0);
  TensorArg* grad = want_grad ? &call.out(1) : nullptr;
  double scale = grad_scale(a);
  int64_t total = a.N * a.C;
  if (total == 0) {   // N = 0 or C = 0: nothing to sum (as the CUDA kernel; the row loop divides by C)
    if (reduce)
      for (int64_t p = 0; p < P; ++p) out.ptr<double>()[p] = 0;
    return;
  }
  FirstBadTarget bad;
  KILN_DISPATCH_FOCAL(a, call.name, {
    using C = compute_t<scalar_t>;
    const Coefficients<C> k(a);
    double* partials = reduce ? out.ptr<double>() : nullptr;
    if (reduce && try_fast_rows<scalar_t, target_t>(a, partials, P, grad ? grad->ptr<scalar_t>() : nullptr, grad, scale, bad)) {
      bad.raise(call, a);
      return;
    }
    parallel_for(P, partial_grain(total, P), [&](int64_t pb, int64_t pe) {
      for (int64_t p = pb; p < pe; ++p) {
        double acc = 0;
        TargetCheck chk;
        for_range(a.C, total * p / P, total * (p + 1) / P, [&](int64_t n, int64_t c) {
          LossGrad<C> r = evaluate<scalar_t, target_t>(a, k, n, c, chk);
          if (reduce) acc += (double)r.loss;
          else store(out.ptr<scalar_t>() + n * out.strides[0] + c * out.strides[1], r.loss);
          if (grad) store(grad->ptr<scalar_t>() + n * grad->strides[0] + c * grad->strides[1], (C)(r.grad * scale));
        });
        if (partials) partials[p] = acc;
        bad.note(chk);
      }
    });
  });
  bad.raise(call, a);
}
KILN_KERNEL_ARGS("sigmoid_focal_loss", forward, "input, target, weight, classWeight");

// backward: inputs [..., grad_out] (grad_out broadcast to [N, C], stride 0 for a scalar);
// output grad [N, C] = grad_out * scale * dloss/dx.
void backward(KernelCall& call) {
  Args a = decode(call);
  Strided2D go = strided2d(call.in(call.n_inputs - 1));
  TensorArg& grad = call.out(0);
  double scale = grad_scale(a);
  FirstBadTarget bad;
  KILN_DISPATCH_FOCAL(a, call.name, {
    using C = compute_t<scalar_t>;
    const Coefficients<C> k(a);
    parallel_for(a.N, std::max<int64_t>(1, kGrain / std::max<int64_t>(a.C, 1)), [&](int64_t nb, int64_t ne) {
      TargetCheck chk;
      for (int64_t n = nb; n < ne; ++n)
        for (int64_t c = 0; c < a.C; ++c) {
          LossGrad<C> r = evaluate<scalar_t, target_t>(a, k, n, c, chk);
          C g = load(reinterpret_cast<const scalar_t*>(go.data) + n * go.s0 + c * go.s1);
          store(grad.ptr<scalar_t>() + n * grad.strides[0] + c * grad.strides[1], (C)(r.grad * scale) * g);
        }
      bad.note(chk);
    });
  });
  bad.raise(call, a);
}
KILN_KERNEL_ARGS("sigmoid_focal_loss_backward", backward, "input, target, weight, classWeight");

// count: inputs [target [N] (index)]; output int64 0-d = rows with target >= 0.
void count(KernelCall& call) {
  const TensorArg& t = call.in(0);
  int64_t n = 0;
  KILN_DISPATCH_INDEX(t.dtype, call.name, {
    const scalar_t* p = t.ptr<scalar_t>();
    for (int64_t i = 0; i < t.numel; ++i) n += p[i * t.strides[0]] >= 0;
  });
  *call.out(0).ptr<int64_t>() = n;
}
KILN_KERNEL("sigmoid_focal_loss_count", count);

// finalize: inputs [partials [P] float64, count?]; output loss 0-d = sum * scale;
// attrs 0: scale (NaN: 1 / (count * C)), 1: C.
void finalize(KernelCall& call) {
  const TensorArg& partials = call.in(0);
  double sum = 0;
  for (int64_t i = 0; i < partials.numel; ++i) sum += partials.ptr<double>()[i * partials.strides[0]];
  Args a;
  a.scale = call.attr(0);
  a.C = call.int_attr(1);
  if (a.scale != a.scale) a.count = call.in(1).ptr<const int64_t>();
  double loss = sum * grad_scale(a);
  KILN_DISPATCH_FLOATING(call.out(0).dtype, call.name, store(call.out(0).ptr<scalar_t>(), loss));
}
KILN_KERNEL("sigmoid_focal_loss_finalize", finalize);

}  // namespace
}}  // namespace kiln::cpu
