// CPU kernels of RoI max pooling (geometry and operands: roi_pool.h). The forward pass splits
// (roi, channel) pairs across threads; the backward pass splits the gradient's (batch, channel)
// planes, each adding the gradients of its batch element's rois at their argmax in roi order:
// no atomics, deterministic.
#include <string>
#include <vector>
#include "cpu/parallel.h"
#include "roi_pool.h"
#include "../rois_cpu.h"

namespace kiln { namespace vision {
namespace {

using cpu::parallel_for;

// The rois' batch elements (rois_cpu.h) and corners, checked on this thread.
template <typename T>
std::vector<int64_t> checked_rois(const KernelCall& c, const TensorArg& rois, int64_t batch) {
  using C = compute_t<T>;
  std::vector<int64_t> out = roi_batches<T>(c, rois, batch);
  for (int64_t k = 0; k < rois.shape[0]; ++k) {
    C roi[5];
    for (int i = 0; i < 5; ++i) roi[i] = C(load(rois.ptr<T>() + k * 5 + i));
    KILN_CHECK(corners_ok(roi, C(c.attr(0))), Value, c.name,
               "argument 'rois' row " + std::to_string(k) + " has a corner that is not finite or beyond 1e15 pixels once scaled");
  }
  return out;
}

template <typename T>
void pool_bins(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, TensorArg& argmax, const RoiPoolParams& p) {
  using C = compute_t<T>;
  const std::vector<int64_t> batch_of = checked_rois<T>(c, rois, input.shape[0]);
  const C scale = C(c.attr(0));
  const int64_t bins = p.pooled_h * p.pooled_w, plane = p.height * p.width;
  parallel_for((int64_t)batch_of.size() * p.channels, 1, [&](int64_t b, int64_t e) {
    for (int64_t kc = b; kc < e; ++kc) {
      const int64_t k = kc / p.channels, ch = kc % p.channels;
      C roi[5];
      for (int i = 0; i < 5; ++i) roi[i] = C(load(rois.ptr<T>() + k * 5 + i));
      const T* in = input.ptr<T>() + (batch_of[k] * p.channels + ch) * plane;
      for (int64_t ph = 0; ph < p.pooled_h; ++ph)
        for (int64_t pw = 0; pw < p.pooled_w; ++pw) {
          C best;
          int64_t at;
          window_max(in, p.width, pool_window(roi, scale, ph, pw, p), best, at);
          const int64_t o = kc * bins + ph * p.pooled_w + pw;
          store(out.ptr<T>() + o, best);
          argmax.ptr<int64_t>()[o] = at;
        }
    }
  });
}

template <typename T>
void fill_planes(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, const TensorArg& argmax, TensorArg& grad_input, const RoiPoolParams& p) {
  const int64_t batch = grad_input.shape[0];
  const std::vector<std::vector<int64_t>> rois_of = rows_by_batch(roi_batches<T>(c, rois, batch), batch);
  const int64_t bins = p.pooled_h * p.pooled_w, plane = p.height * p.width;
  const int64_t* am = argmax.ptr<int64_t>();
  // argmax comes from roi_pool; a direct call may pass anything: check it here, on this thread
  for (int64_t i = 0; i < argmax.numel; ++i)
    KILN_CHECK(am[i] >= -1 && am[i] < plane, Value, c.name,
               "argument 'argmax' holds " + std::to_string(am[i]) + ", outside [-1, " + std::to_string(plane - 1) + "]");
  for_each_plane(grad_input.ptr<T>(), p.channels, plane, rois_of, [&](T* gi, int64_t k, int64_t ch) {
    const int64_t base = (k * p.channels + ch) * bins;
    for (int64_t bin = 0; bin < bins; ++bin)
      if (am[base + bin] >= 0) gi[am[base + bin]] += grad.ptr<T>()[base + bin];
  });
}

struct Cpu {
  template <typename T>
  static void forward(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, TensorArg& argmax, const RoiPoolParams& p) {
    pool_bins<T>(c, input, rois, out, argmax, p);
  }
  template <typename T>
  static void backward(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, const TensorArg& argmax, TensorArg& grad_input,
                       const RoiPoolParams& p) {
    fill_planes<T>(c, grad, rois, argmax, grad_input, p);
  }
};

}  // namespace

KILN_KERNEL("roi_pool", roi_pool_entry<Cpu>);
KILN_KERNEL("roi_pool_backward", roi_pool_backward_entry<Cpu>);

}}  // namespace kiln::vision
