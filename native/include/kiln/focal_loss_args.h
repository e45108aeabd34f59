// Decodes the sigmoid focal loss kernels' arguments (the same layout on both devices) and reads
// one element's target and weights. The TS side (packages/losses/src/sigmoid-focal-loss/kernels.ts)
// encodes them:
//
//   inputs   0 input [N, C]            (any strides)
//            1 target [N] int32/int64 (index) or [N, C] float (same dtype as input)
//            2 weight [N, C]            (per element or a per-row [N] expanded: stride 0) if has_weight
//            3 class weight [C]         if has_class_weight
//            4 valid-row count (int64, 0-d) when the mean's divisor is counted on the device
//   attrs    0 gamma, 1 alpha, 2 target kind (0 index, background first: 0 background, 1..C class t-1;
//            1 index, background last: 0..C-1 class, C background; 2 float), 3 has_weight,
//            4 has_class_weight, 5 scale (1 / divisor, or NaN: 1 / (count * C) from input 4),
//            then kernel-specific attributes.
#pragma once
#include <string>
#include <type_traits>
#include "kiln/device_error.h"
#include "kiln/kernel.h"

namespace kiln { namespace focal {

enum TargetKind { kIndexBackgroundFirst = 0, kIndexBackgroundLast = 1, kFloat = 2 };

// What a target of kind `kind` may hold with C classes, in the words of an error's "expected".
inline std::string target_expectation(int kind, int64_t C) {
  if (kind == kFloat) return "[0, 1]";
  if (kind == kIndexBackgroundFirst) return "a negative value (ignored row), 0 (background) or 1.." + std::to_string(C) + " (class t - 1)";
  return "a negative value (ignored row), 0.." + std::to_string(C - 1) + " (a class) or " + std::to_string(C) + " (background)";
}

// The same for a bad target found on the device, which reports the kind as its detail and C as its
// range's upper end (cuda/focal_loss.cu).
inline std::string target_error_wording(const DeviceErrorSlot& e) { return target_expectation(e.is_float ? kFloat : (int)e.detail, e.hi); }

struct Strided2D {
  const char* data = nullptr;
  int64_t s0 = 0, s1 = 0;   // strides in elements
};

struct Args {
  int64_t N = 0, C = 0;
  Strided2D x, target, weight, grad_out;
  const char* class_weight = nullptr;
  int64_t cw_stride = 0;
  const int64_t* count = nullptr;   // device/host pointer to the valid-row count, or null
  DType x_dtype = DType::Float32, target_dtype = DType::Int64;
  int kind = kIndexBackgroundFirst;
  bool has_weight = false, has_class_weight = false;
  double gamma = 2, alpha = 0.25, scale = 1;
};

inline Strided2D strided2d(const TensorArg& t) {
  Strided2D s;
  s.data = t.data;
  s.s0 = t.ndim > 0 ? t.strides[0] : 0;
  s.s1 = t.ndim > 1 ? t.strides[1] : 0;
  return s;
}

// Shared decoding of inputs and attributes 0..5. Extra inputs/attrs are read by each kernel.
inline Args decode(const KernelCall& c) {
  Args a;
  const TensorArg& x = c.in(0);
  a.N = x.shape[0];
  a.C = x.ndim > 1 ? x.shape[1] : 1;
  a.x = strided2d(x);
  a.x_dtype = x.dtype;
  a.target = strided2d(c.in(1));
  a.target_dtype = c.in(1).dtype;
  a.gamma = c.attr(0);
  a.alpha = c.attr(1);
  a.kind = (int)c.attr(2);
  a.has_weight = c.attr(3) != 0;
  a.has_class_weight = c.attr(4) != 0;
  a.scale = c.attr(5);
  int next = 2;
  if (a.has_weight) a.weight = strided2d(c.in(next++));
  if (a.has_class_weight) {
    a.class_weight = c.in(next).data;
    a.cw_stride = c.in(next).strides[0];
    next++;
  }
  if (a.scale != a.scale) a.count = c.in(next).ptr<const int64_t>();
  return a;
}

// The row's class for an index target, or whether the row is ignored / out of range.
struct IndexTarget {
  int64_t cls;      // foreground class in [0, C), or -1 for background
  bool ignored;     // negative target
  bool invalid;     // above the valid range
};

KILN_HD IndexTarget classify(int64_t t, int kind, int64_t C) {
  IndexTarget r;
  r.ignored = t < 0;
  r.invalid = t > C;
  if (kind == kIndexBackgroundFirst) r.cls = t - 1;            // 0 background -> -1
  else r.cls = t == C ? -1 : t;                      // C background
  return r;
}

}}  // namespace kiln::focal

#include "kiln/math/focal_loss.h"

namespace kiln { namespace focal {

// A target found outside its valid range while evaluating an element.
struct TargetCheck {
  bool bad = false;
  bool is_float = false;
  double value = 0;
};

// Loss and gradient of element (n, c), weights applied, for input storage type T and index
// target type TT (unused for float targets, whose dtype is T). Ignored rows give zeros.
// One row's index target, read and classified once for all of the row's elements (float targets
// are per element and read in evaluate_in_row).
struct RowTarget {
  int cls = -1;             // foreground class, -1 background (valid classes are below C < 2^31)
  bool ignored = false;
  bool invalid = false;
  int64_t raw = 0;          // the target value as given
};

template <typename TT>
KILN_HD RowTarget row_target(const Args& a, int64_t n) {
  RowTarget r;
  if constexpr (std::is_integral<TT>::value) {
    r.raw = (int64_t)*(reinterpret_cast<const TT*>(a.target.data) + n * a.target.s0);
    IndexTarget it = classify(r.raw, a.kind, a.C);
    r.cls = it.invalid ? -1 : (int)it.cls;
    r.ignored = it.ignored;
    r.invalid = it.invalid;
  }
  return r;
}

// gamma and alpha in the compute type, converted once per thread rather than per element.
template <typename C>
struct Coefficients {
  C gamma, alpha;
  AlphaWeights<C> alpha_t;
  KILN_HD explicit Coefficients(const Args& a) : gamma((C)a.gamma), alpha((C)a.alpha), alpha_t((C)a.alpha) {}
};

// Loss and gradient of element (n, c) of a row whose target was read by row_target, for the logit
// x already loaded (the GPU's vectorised path loads four at once). Ignored rows give zeros.
// TT is the input's own type for float targets and an integer type for index targets.
// PowG fixes q^gamma at compile time where a kernel is specialised for gamma (see focal_loss.h).
template <typename T, typename TT, typename C = compute_t<T>, typename PowG = PowGammaRuntime>
KILN_HD LossGrad<C> evaluate_in_row(const Args& a, const Coefficients<C>& k, const RowTarget& row, int64_t n, int64_t c, C x, TargetCheck& chk,
                                    PowG powg = PowG()) {
  LossGrad<C> r;
  if constexpr (!std::is_integral<TT>::value) {
    C t = load(reinterpret_cast<const T*>(a.target.data) + n * a.target.s0 + c * a.target.s1);
    if (!(t >= C(0) && t <= C(1))) {
      chk.bad = true;
      chk.is_float = true;
      chk.value = (double)t;
      return {C(0), C(0)};
    }
    r = soft<C>(x, t, k.gamma, k.alpha);
  } else {
    if (row.invalid) {
      chk.bad = true;
      chk.value = (double)row.raw;
      return {C(0), C(0)};
    }
    if (row.ignored) return {C(0), C(0)};
    r = binary<C>(x, row.cls == (int)c, k.gamma, k.alpha_t, powg);
  }
  if (a.has_weight) {
    C w = load(reinterpret_cast<const T*>(a.weight.data) + n * a.weight.s0 + c * a.weight.s1);
    r.loss *= w;
    r.grad *= w;
  }
  if (a.has_class_weight) {
    C w = load(reinterpret_cast<const T*>(a.class_weight) + c * a.cw_stride);
    r.loss *= w;
    r.grad *= w;
  }
  return r;
}

// Element (n, c) on its own (generic strided loops).
template <typename T, typename TT, typename C = compute_t<T>>
KILN_HD LossGrad<C> evaluate(const Args& a, const Coefficients<C>& k, int64_t n, int64_t c, TargetCheck& chk) {
  C x = load(reinterpret_cast<const T*>(a.x.data) + n * a.x.s0 + c * a.x.s1);
  return evaluate_in_row<T, TT, C>(a, k, row_target<TT>(a, n), n, c, x, chk);
}

// 1 / divisor for the gradient and the mean: from the device-side count when the host does not
// know it (mean over non-ignored rows); 0 when nothing is valid (loss 0, gradient 0).
KILN_HD double grad_scale(const Args& a) {
  if (!a.count) return a.scale;
  int64_t n = *a.count;
  return n > 0 ? 1.0 / ((double)n * (double)a.C) : 0.0;
}

}}  // namespace kiln::focal

// Binds scalar_t (input) and target_t (index target type; the input type for float targets).
#define KILN_DISPATCH_FOCAL(args, opname, ...)                \
  KILN_DISPATCH_FLOATING((args).x_dtype, opname, {            \
    if ((args).kind == ::kiln::focal::kFloat) {               \
      using target_t = scalar_t;                              \
      __VA_ARGS__;                                            \
    } else if ((args).target_dtype == ::kiln::DType::Int32) { \
      using target_t = int32_t;                               \
      __VA_ARGS__;                                            \
    } else {                                                  \
      using target_t = int64_t;                               \
      __VA_ARGS__;                                            \
    }                                                         \
  })
