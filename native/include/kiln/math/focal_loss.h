// The sigmoid focal loss of RetinaNet (Lin et al., 2017) and its gradient, written once for the
// CPU and CUDA kernels (native/cpu/focal_loss.cc, native/cuda/focal_loss.cu).
//
// For a logit x, p = sigmoid(x) and a target t in [0, 1] (torchvision's definition, which for
// t in {0, 1} is the paper's):
//
//   ce      = BCEWithLogits(x, t) = t * softplus(-x) + (1 - t) * softplus(x)
//             (-log p = softplus(-x), -log(1 - p) = softplus(x): no log of a rounded p)
//   q       = 1 - p_t = t * (1 - p) + (1 - t) * p
//   alpha_t = alpha * t + (1 - alpha) * (1 - t)      (1 when alpha < 0: weighting disabled)
//   loss    = alpha_t * q^gamma * ce
//
// Gradient. dce/dx = p - t; dq/dx = (1 - 2t) * p(1 - p), so
//   dloss/dx = alpha_t * [ q^gamma * (p - t) + gamma * q^(gamma - 1) * (1 - 2t) * p(1 - p) * ce ]
//            = alpha_t * q^gamma * [ (p - t) + gamma * (1 - 2t) * r * ce ],   r = p(1 - p) / q.
// r is bounded (q >= min(p, 1 - p) >= p(1 - p), so r <= 1) and q^(gamma - 1), which is infinite
// at q = 0 when gamma < 1, never appears. For a binary target r is exact without a division:
//   t = 1: q = 1 - p, r = p, p - t = -q        t = 0: q = p, r = 1 - p, p - t = q
// which gives the seed's formulas:  t = 1: -alpha (1-p)^g (1 - p - g p log p),
//                                   t = 0: -(1-alpha) p^g (g (1-p) log(1-p) - p).
// p and 1 - p are both computed from e = exp(-|x|) in [0, 1] (never as 1 - p), and softplus(±x)
// from log1p(e) (m::log1p_unit). Per element: one exp (m::exp_nonpos), one reciprocal
// (m::sigmoid_parts: d = 1 / ((1 + e)(2 + e)) gives both 1 / (1 + e) and the s = e / (2 + e) of
// log1p's atanh form) and a 4-term polynomial; finite for every finite x (no clamp as the seed's
// log(max(p, FLT_MIN))). q^gamma uses pow(0, 0) = 1, so gamma = 0 is exactly BCE at p_t = 1.
#pragma once
#include "kiln/math/scalar.h"

namespace kiln { namespace focal {

template <typename T>
struct LogitTerms {
  T p, one_minus_p;          // sigmoid(x), sigmoid(-x)
  T softplus_pos;            // softplus(x)  = -log(1 - p)
  T softplus_neg;            // softplus(-x) = -log(p)
};

template <typename T>
KILN_HD LogitTerms<T> logit_terms(T x) {
  T e = m::exp_nonpos(-m::fabs(x));   // in [0, 1]
  m::SigmoidParts<T> sp = m::sigmoid_parts(e);
  T big = sp.big;                   // sigmoid(|x|)
  T small = sp.small;               // sigmoid(-|x|)
  T l = m::log1p_unit(e, sp.s);     // softplus(-|x|)
  bool pos = x >= T(0);
  return {pos ? big : small, pos ? small : big, (pos ? x : T(0)) + l, (pos ? T(0) : -x) + l};
}

// q^gamma with the common gammas as multiplications (gamma is uniform across a launch, so the
// branches cost a GPU nothing).
template <typename T>
KILN_HD T pow_gamma(T q, T gamma) {
  if (gamma == T(2)) return q * q;
  if (gamma == T(1)) return q;
  if (gamma == T(0)) return T(1);
  return m::pow(q, gamma);
}

// The same, fixed at compile time for loops that must be branch-free to vectorise (CPU):
// PowGamma2 for the paper's gamma = 2, PowGammaAny otherwise (pow(0, 0) = 1).
struct PowGammaRuntime {
  template <typename T> KILN_HD T operator()(T q, T gamma) const { return pow_gamma(q, gamma); }
};
struct PowGamma2 {
  template <typename T> KILN_HD T operator()(T q, T) const { return q * q; }
};
struct PowGammaAny {
  template <typename T> KILN_HD T operator()(T q, T gamma) const { return m::pow(q, gamma); }
};

template <typename T>
struct LossGrad {
  T loss, grad;
};

// alpha_t for a positive and a negative element (both 1 when alpha < 0 disables the weighting),
// computed once per launch rather than per element.
template <typename T>
struct AlphaWeights {
  T pos, neg;
  KILN_HD explicit AlphaWeights(T alpha) : pos(alpha < T(0) ? T(1) : alpha), neg(alpha < T(0) ? T(1) : T(1) - alpha) {}
};

// Binary target (t = 1 when `positive`). A positive element at x costs what a negative one costs
// at z = -x (q, r and ce swap roles: q = sigmoid(z), r = sigmoid(-z), ce = softplus(z)), with the
// gradient's sign flipped and alpha_t = alpha instead of 1 - alpha. So one branch-free formula:
//   loss = alpha_t q^gamma ce,   dloss/dx = s * alpha_t q^gamma (q + gamma r ce),  s = -1 if positive.
// alpha_t and s * alpha_t are selected from the launch constants before they multiply anything (a
// vectorised loop would otherwise form both targets' products and blend them).
//
// The formula in three stages: binary_exp gives z and the one exponential e = exp(-|z|),
// binary_terms the sigmoids and softplus of z from them, binary_loss_grad the loss and gradient.
// binary() composes the three; the CPU's loop runs them as three passes over a block of logits
// (native/cpu/focal_row.h), each a shorter chain of dependent instructions, so that the processor
// overlaps more elements (one pass was bound by how many of its long iterations fit in the
// scheduler, not by its arithmetic: 1.65 ns per element in one pass, 1.13 in two, 1.05 in three
// on a Zen 3 core).
template <typename T>
struct SignedExp {
  T z, e;   // z = -x if positive else x;  e = exp(-|z|) in [0, 1]
};
template <typename T>
KILN_HD SignedExp<T> binary_exp(T x, bool positive) {
  T z = positive ? -x : x;
  return {z, m::exp_nonpos(-m::fabs(z))};
}
template <typename T>
struct BinaryTerms {
  T q, r, ce;   // q = sigmoid(z) = 1 - p_t, r = sigmoid(-z) = p(1 - p) / q, ce = softplus(z)
};
template <typename T>
KILN_HD BinaryTerms<T> binary_terms(SignedExp<T> ze) {
  const T z = ze.z, e = ze.e;
  m::SigmoidParts<T> sp = m::sigmoid_parts(e);
  T big = sp.big;                   // sigmoid(|z|)
  T small = sp.small;               // sigmoid(-|z|)
  bool zpos = z >= T(0);
  return {zpos ? big : small, zpos ? small : big, (zpos ? z : T(0)) + m::log1p_unit(e, sp.s)};
}
template <typename T, typename PowG = PowGammaRuntime>
KILN_HD LossGrad<T> binary_loss_grad(BinaryTerms<T> t, bool positive, T gamma, AlphaWeights<T> alpha, PowG powg = PowG()) {
  T qg = powg(t.q, gamma);
  T at = positive ? alpha.pos : alpha.neg;      // alpha_t
  T gs = positive ? -alpha.pos : alpha.neg;     // s * alpha_t
  return {at * qg * t.ce, gs * qg * (t.q + gamma * t.r * t.ce)};
}
template <typename T, typename PowG = PowGammaRuntime>
KILN_HD LossGrad<T> binary(T x, bool positive, T gamma, AlphaWeights<T> alpha, PowG powg = PowG()) {
  return binary_loss_grad<T, PowG>(binary_terms(binary_exp(x, positive)), positive, gamma, alpha, powg);
}

// Soft target t in [0, 1].
template <typename T>
KILN_HD LossGrad<T> soft(T x, T t, T gamma, T alpha) {
  LogitTerms<T> L = logit_terms(x);
  T q = t * L.one_minus_p + (T(1) - t) * L.p;
  T ce = t * L.softplus_neg + (T(1) - t) * L.softplus_pos;
  T r = q > T(0) ? L.p * L.one_minus_p / q : T(0);
  T a = alpha < T(0) ? T(1) : alpha * t + (T(1) - alpha) * (T(1) - t);
  T w = a * pow_gamma(q, gamma);
  return {w * ce, w * ((L.p - t) + gamma * (T(1) - T(2) * t) * r * ce)};
}

}}  // namespace kiln::focal
