// One element of an optimizer's update, written once for both devices: Adam / AdamW (with AMSGrad,
// maximize, L2 or decoupled weight decay) and SGD (momentum, dampening, Nesterov, maximize, L2).
// The fused kernels (cpu/optimizer_step.cc, cuda/optimizer_step.cu) load a parameter's element and
// its state into the compute type C (float for float32 and the half types, double for float64),
// call these, and store the results back.
//
// The expressions follow the composed updates of packages/optim (adam.ts, sgd.ts) operation for
// operation, in the same order and with the same scalars (1 - beta1 and friends are computed on the
// host in double, then rounded to C, as the composed ops round their scalar operands), so the two
// paths agree to rounding. They differ only where the composed path rounds an intermediate to a
// half type (it stores every temporary tensor) and where nvcc contracts a product and a sum into
// an FMA.
#pragma once
#include "kiln/hd.h"
#include "kiln/math/scalar.h"

namespace kiln { namespace ops {

// The scalars of one Adam launch (shared by every parameter of the launch).
template <typename C> struct AdamScalars {
  C beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  C weight_decay;   // Adam: the L2 term's factor in the gradient
  C decay;          // AdamW: 1 - lr * weight_decay, the parameter's decoupled shrink
  bool decoupled, amsgrad, maximize;
};

// Adam's step for one element. With t the parameter's step count:
//   g ← -g (maximize);  AdamW: p ← p · (1 - lr·λ)  |  Adam: g ← g + λ·p
//   m ← β1·m + (1 - β1)·g;   v ← β2·v + (1 - β2)·g²;   AMSGrad: vmax ← max(vmax, v), used for v
//   p ← p - (m / (sqrt(v) / sqrt(1 - β2^t) + eps)) · lr / (1 - β1^t)
// which is PyTorch's p - lr·m̂ / (sqrt(v̂) + eps) with m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t).
// step_size = lr / (1 - β1^t) and bias2_sqrt = sqrt(1 - β2^t) come per parameter (its own t).
// vmax is read and written only with amsgrad (a NaN in v propagates into it, as torch.maximum does).
template <typename C>
KILN_HD void adam_element(const AdamScalars<C>& s, C step_size, C bias2_sqrt, C& p, C g, C& mom, C& v, C& vmax) {
  if (s.maximize) g = -g;
  if (s.weight_decay != C(0)) {
    if (s.decoupled) p = p * s.decay;
    else g = g + p * s.weight_decay;
  }
  mom = mom * s.beta1 + g * s.one_minus_beta1;
  v = v * s.beta2 + (g * g) * s.one_minus_beta2;
  C second = v;
  if (s.amsgrad) {
    vmax = m::max_nan(vmax, v);
    second = vmax;
  }
  C denom = m::sqrt(second) / bias2_sqrt + s.eps;
  p = p - (mom / denom) * step_size;
}

// The scalars of one SGD launch.
template <typename C> struct SgdScalars {
  C lr, momentum, one_minus_dampening, weight_decay;
  bool has_momentum, nesterov, maximize;
};

// SGD's step for one element:
//   g ← -g (maximize);  g ← g + λ·p (weight decay)
//   with momentum μ: b ← g at the buffer's first step, else μ·b + (1 - dampening)·g;
//                    g ← g + μ·b (Nesterov) or b
//   p ← p - g·lr
// `buf` is read and written only with momentum; `first` says the buffer is new (its contents are
// not read: PyTorch's clone of the gradient).
template <typename C>
KILN_HD void sgd_element(const SgdScalars<C>& s, bool first, C& p, C g, C& buf) {
  if (s.maximize) g = -g;
  if (s.weight_decay != C(0)) g = g + p * s.weight_decay;
  if (s.has_momentum) {
    buf = first ? g : buf * s.momentum + g * s.one_minus_dampening;
    g = s.nesterov ? g + buf * s.momentum : buf;
  }
  p = p - g * s.lr;
}

}}  // namespace kiln::ops
