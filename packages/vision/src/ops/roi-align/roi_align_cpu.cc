// CPU kernels of RoI Align (formulas and operands: roi_align.h). Each roi's samples (neighbours and
// weights) are computed once and shared by its channels. The forward pass splits the rois across
// threads; the backward pass splits the gradient's (batch, channel) planes across threads, each
// plane summing the contributions of the rois of its batch element in roi order: no two threads
// write one element, so it needs no atomics and is deterministic.
#include <string>
#include <vector>
#include "cpu/parallel.h"
#include "roi_align.h"
#include "../rois_cpu.h"

namespace kiln { namespace vision {
namespace {

using cpu::parallel_for;

// A roi's batch element and samples, in bin order (bin-major, then grid rows, then columns).
template <typename C> struct RoiSamples {
  int64_t batch;
  RoiGrid<C> grid;
  std::vector<Bilinear<C>> samples;
};

template <typename T>
std::vector<RoiSamples<compute_t<T>>> sample_rois(const KernelCall& c, const TensorArg& rois, int64_t batch, const RoiAlignParams& p) {
  using C = compute_t<T>;
  const int64_t k_rois = rois.shape[0];
  const C scale = C(c.attr(0));
  std::vector<RoiSamples<C>> out(k_rois);
  const std::vector<int64_t> batch_of = roi_batches<T>(c, rois, batch);
  for (int64_t k = 0; k < k_rois; ++k) out[k].batch = batch_of[k];
  parallel_for(k_rois, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      C roi[5];
      for (int i = 0; i < 5; ++i) roi[i] = C(load(rois.ptr<T>() + k * 5 + i));
      RoiSamples<C>& r = out[k];
      r.grid = roi_grid(roi, scale, p);
      if (r.grid.grid_h < 0 || r.grid.grid_w < 0) continue;   // refused below
      r.samples.clear();
      r.samples.reserve((size_t)(p.pooled_h * p.pooled_w * r.grid.grid_h * r.grid.grid_w));
      for (int64_t ph = 0; ph < p.pooled_h; ++ph)
        for (int64_t pw = 0; pw < p.pooled_w; ++pw)
          for (int iy = 0; iy < r.grid.grid_h; ++iy) {
            const C y = sample_at(r.grid.start_h, r.grid.bin_h, ph, iy, r.grid.grid_h);
            for (int ix = 0; ix < r.grid.grid_w; ++ix)
              r.samples.push_back(bilinear(p.height, p.width, y, sample_at(r.grid.start_w, r.grid.bin_w, pw, ix, r.grid.grid_w)));
          }
    }
  });
  for (int64_t k = 0; k < k_rois; ++k) {
    KILN_CHECK(out[k].grid.grid_h != kNotFinite, Value, c.name,
               "argument 'rois' row " + std::to_string(k) + " has a corner, or a width or height, that is not finite once scaled");
    KILN_CHECK(out[k].grid.grid_h >= 0 && out[k].grid.grid_w >= 0, Value, c.name,
               "argument 'rois' row " + std::to_string(k) + " spans more than " + std::to_string(kMaxGrid) +
                   " samples per bin along an axis (samplingRatio 0 samples each bin once per pixel); pass a samplingRatio");
  }
  return out;
}

template <typename T>
void pool_bins(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, const RoiAlignParams& p) {
  using C = compute_t<T>;
  const std::vector<RoiSamples<C>> all = sample_rois<T>(c, rois, input.shape[0], p);
  const int64_t plane = p.height * p.width, bins = p.pooled_h * p.pooled_w;
  parallel_for((int64_t)all.size() * p.channels, 1, [&](int64_t b, int64_t e) {
    for (int64_t kc = b; kc < e; ++kc) {
      const int64_t k = kc / p.channels, ch = kc % p.channels;
      const RoiSamples<C>& r = all[k];
      const T* in = input.ptr<T>() + (r.batch * p.channels + ch) * plane;
      T* o = out.ptr<T>() + kc * bins;
      const int per_bin = r.grid.grid_h * r.grid.grid_w;
      for (int64_t bin = 0; bin < bins; ++bin) {
        C sum = C(0);
        for (int s = 0; s < per_bin; ++s) sum += interpolate<C>(in, r.samples[bin * per_bin + s]);
        store(o + bin, sum / r.grid.count);
      }
    }
  });
}

template <typename T>
void fill_planes(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, TensorArg& grad_input, const RoiAlignParams& p) {
  const int64_t batch = grad_input.shape[0];
  const std::vector<RoiSamples<T>> all = sample_rois<T>(c, rois, batch, p);
  std::vector<int64_t> batch_of(all.size());
  for (size_t k = 0; k < all.size(); ++k) batch_of[k] = all[k].batch;
  const std::vector<std::vector<int64_t>> rois_of = rows_by_batch(batch_of, batch);
  const int64_t plane = p.height * p.width, bins = p.pooled_h * p.pooled_w;
  for_each_plane(grad_input.ptr<T>(), p.channels, plane, rois_of, [&](T* gi, int64_t k, int64_t ch) {
    const RoiSamples<T>& r = all[k];
    const T* g = grad.ptr<T>() + (k * p.channels + ch) * bins;
    const int per_bin = r.grid.grid_h * r.grid.grid_w;
    for (int64_t bin = 0; bin < bins; ++bin) {
      const T gb = g[bin];
      for (int s = 0; s < per_bin; ++s) {
        const Bilinear<T>& w = r.samples[bin * per_bin + s];
        if (!w.inside) continue;
        gi[w.p1] += gb * w.w1 / r.grid.count;
        gi[w.p2] += gb * w.w2 / r.grid.count;
        gi[w.p3] += gb * w.w3 / r.grid.count;
        gi[w.p4] += gb * w.w4 / r.grid.count;
      }
    }
  });
}

struct Cpu {
  template <typename T> static void forward(const KernelCall& c, const TensorArg& input, const TensorArg& rois, TensorArg& out, const RoiAlignParams& p) {
    pool_bins<T>(c, input, rois, out, p);
  }
  template <typename T> static void backward(const KernelCall& c, const TensorArg& grad, const TensorArg& rois, TensorArg& grad_input,
                                             const RoiAlignParams& p) {
    fill_planes<T>(c, grad, rois, grad_input, p);
  }
};

}  // namespace

KILN_KERNEL("roi_align", roi_align_entry<Cpu>);
KILN_KERNEL("roi_align_backward", roi_align_backward_entry<Cpu>);

}}  // namespace kiln::vision
