// The launch layout of the fused optimizer kernels, decoded the same way on both devices. The TS
// side (packages/optim/src/fused/) groups parameters by device and dtype and sends as many per
// launch as the launch record holds (kMaxTensors outputs):
//
//   adam_update   inputs   grad_0 .. grad_{k-1}
//                 outputs  per parameter i: param_i, exp_avg_i, exp_avg_sq_i [, max_exp_avg_sq_i (amsgrad)]
//                 attrs    0 beta1, 1 1 - beta1, 2 beta2, 3 1 - beta2, 4 eps, 5 weight_decay,
//                          6 1 - lr * weight_decay, 7 decoupled, 8 amsgrad, 9 maximize,
//                          then per parameter: 10 + 2i lr / (1 - beta1^t_i), 11 + 2i sqrt(1 - beta2^t_i)
//   sgd_update    inputs   grad_0 .. grad_{k-1}
//                 outputs  per parameter i: param_i [, momentum_buffer_i (momentum != 0)]
//                 attrs    0 lr, 1 momentum, 2 1 - dampening, 3 weight_decay, 4 has_momentum,
//                          5 nesterov, 6 maximize, then per parameter: 7 + i first (the buffer is new)
//
// Every tensor is contiguous; a parameter, its gradient and its state have one dtype and one
// element count (the TS side makes contiguous copies of other layouts and writes them back).
#pragma once
#include <string>
#include "kiln/kernel.h"
#include "kiln/math/optimizer_step.h"

namespace kiln { namespace optim {

constexpr int kMaxState = 4;   // outputs per parameter at most (Adam with AMSGrad)

// The parameters of one launch: for parameter i, out[i][0] is the parameter and out[i][1..] its
// state tensors; grad[i] its gradient; numel[i] their common element count.
struct ParamList {
  int count = 0;
  int per_param = 0;
  DType dtype = DType::Float32;
  char* out[kMaxTensors][kMaxState] = {};
  const char* grad[kMaxTensors] = {};
  int64_t numel[kMaxTensors] = {};
};

// Decodes and checks the tensors of a fused optimizer launch with `per_param` outputs per
// parameter (the TS side guarantees all of this; a failed check is a bug there, reported by name).
inline ParamList decode_params(KernelCall& c, int per_param) {
  ParamList L;
  L.count = c.n_inputs;
  L.per_param = per_param;
  KILN_CHECK(per_param >= 1 && per_param <= kMaxState && c.n_outputs == c.n_inputs * per_param, Internal, c.name,
             std::to_string(c.n_inputs) + " gradients need " + std::to_string(c.n_inputs * per_param) + " outputs, got " + std::to_string(c.n_outputs));
  if (L.count > 0) L.dtype = c.in(0).dtype;
  for (int i = 0; i < L.count; ++i) {
    const TensorArg& g = c.in(i);
    KILN_CHECK(g.is_contiguous(), Internal, c.name, "gradient " + std::to_string(i) + " is not contiguous");
    KILN_CHECK(g.dtype == L.dtype, DType, c.name,
               std::string("every tensor of one launch has one dtype: gradient ") + std::to_string(i) + " is " + dtype_name(g.dtype) + ", gradient 0 is " +
                   dtype_name(L.dtype));
    L.grad[i] = g.data;
    L.numel[i] = g.numel;
    for (int s = 0; s < per_param; ++s) {
      TensorArg& t = c.out(i * per_param + s);
      KILN_CHECK(t.is_contiguous() && t.dtype == L.dtype && t.numel == g.numel, Internal, c.name,
                 "output " + std::to_string(i * per_param + s) + " of parameter " + std::to_string(i) +
                     " must be contiguous with its gradient's dtype and element count");
      L.out[i][s] = t.data;
    }
  }
  return L;
}

// Where the per-parameter attributes start.
constexpr int kAdamParamAttrs = 10;
constexpr int kSgdParamAttrs = 7;

template <typename C> ops::AdamScalars<C> adam_scalars(const KernelCall& c) {
  ops::AdamScalars<C> s;
  s.beta1 = (C)c.attr(0);
  s.one_minus_beta1 = (C)c.attr(1);
  s.beta2 = (C)c.attr(2);
  s.one_minus_beta2 = (C)c.attr(3);
  s.eps = (C)c.attr(4);
  s.weight_decay = (C)c.attr(5);
  s.decay = (C)c.attr(6);
  s.decoupled = c.attr(7) != 0;
  s.amsgrad = c.attr(8) != 0;
  s.maximize = c.attr(9) != 0;
  return s;
}
inline int adam_outputs_per_param(const KernelCall& c) { return c.attr(8) != 0 ? 4 : 3; }

template <typename C> ops::SgdScalars<C> sgd_scalars(const KernelCall& c) {
  ops::SgdScalars<C> s;
  s.lr = (C)c.attr(0);
  s.momentum = (C)c.attr(1);
  s.one_minus_dampening = (C)c.attr(2);
  s.weight_decay = (C)c.attr(3);
  s.has_momentum = c.attr(4) != 0;
  s.nesterov = c.attr(5) != 0;
  s.maximize = c.attr(6) != 0;
  return s;
}
inline int sgd_outputs_per_param(const KernelCall& c) { return c.attr(4) != 0 ? 2 : 1; }

// The kernels as both devices register them: decode the launch, dispatch on its dtype, and run the
// device's loop, `Device::adam<T>(c, L)` / `Device::sgd<T>(c, L)`.
template <typename Device> void adam_update(KernelCall& c) {
  ParamList L = decode_params(c, adam_outputs_per_param(c));
  KILN_DISPATCH_FLOATING(L.dtype, c.name, Device::template adam<scalar_t>(c, L));
}
template <typename Device> void sgd_update(KernelCall& c) {
  ParamList L = decode_params(c, sgd_outputs_per_param(c));
  KILN_DISPATCH_FLOATING(L.dtype, c.name, Device::template sgd<scalar_t>(c, L));
}

}}  // namespace kiln::optim
