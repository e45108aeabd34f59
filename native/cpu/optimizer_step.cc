// CPU kernels of the fused optimizer updates: each parameter of the launch in one pass over its
// elements (the math: include/kiln/math/optimizer_step.h; the layout: include/kiln/optimizer_args.h).
// The CUDA twins are in cuda/optimizer_step.cu.
#include "kiln/optimizer_args.h"
#include "parallel.h"

namespace kiln { namespace cpu {
namespace {
using namespace kiln::optim;

// The loops of this device, each parameter in turn (split across threads when large).
struct Cpu {
  template <typename T>
  static void adam(KernelCall& c, const ParamList& L) {
    using C = compute_t<T>;
    const ops::AdamScalars<C> s = adam_scalars<C>(c);
    for (int i = 0; i < L.count; ++i) {
      const C step_size = (C)c.attr(kAdamParamAttrs + 2 * i), bias2_sqrt = (C)c.attr(kAdamParamAttrs + 2 * i + 1);
      T* p = (T*)L.out[i][0];
      T* mom = (T*)L.out[i][1];
      T* v = (T*)L.out[i][2];
      T* vmax = s.amsgrad ? (T*)L.out[i][3] : nullptr;
      const T* g = (const T*)L.grad[i];
      parallel_for(L.numel[i], kGrain, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) {
          C pj = load(p + j), mj = load(mom + j), vj = load(v + j), xj = vmax ? load(vmax + j) : C(0);
          ops::adam_element(s, step_size, bias2_sqrt, pj, load(g + j), mj, vj, xj);
          store(p + j, pj);
          store(mom + j, mj);
          store(v + j, vj);
          if (vmax) store(vmax + j, xj);
        }
      });
    }
  }

  template <typename T>
  static void sgd(KernelCall& c, const ParamList& L) {
    using C = compute_t<T>;
    const ops::SgdScalars<C> s = sgd_scalars<C>(c);
    for (int i = 0; i < L.count; ++i) {
      const bool first = c.attr(kSgdParamAttrs + i) != 0;
      T* p = (T*)L.out[i][0];
      T* buf = s.has_momentum ? (T*)L.out[i][1] : nullptr;
      const T* g = (const T*)L.grad[i];
      parallel_for(L.numel[i], kGrain, [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j) {
          C pj = load(p + j), bj = buf && !first ? load(buf + j) : C(0);
          ops::sgd_element(s, first, pj, load(g + j), bj);
          store(p + j, pj);
          if (buf) store(buf + j, bj);
        }
      });
    }
  }
};

}  // namespace

KILN_KERNEL("adam_update", optim::adam_update<Cpu>);
KILN_KERNEL("sgd_update", optim::sgd_update<Cpu>);

}}  // namespace kiln::cpu
