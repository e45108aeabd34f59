// The cuDNN path of the CUDA convolutions (conv_cudnn.h): through cuDNN's graph API with cached
// execution plans (conv_cudnn_graph.cc, which also times its engines in benchmark mode) when it
// takes the problem, else through the legacy convolution API (cudnnConvolutionForward /
// BackwardData / BackwardFilter with tensor, filter and convolution descriptors, and cudnnFind*
// in benchmark mode).
//
// Tensors are described with their real strides when they are dense (a permutation of a packed
// layout: NCHW, NHWC, ...); a tensor that is not (sliced with steps, broadcast), or whose sizes or
// strides do not fit cuDNN's int, is copied to a contiguous NCHW scratch buffer first, and so is a
// dense one when cuDNN offers no algorithm for its strides. Filters are always NCHW-packed
// (cuDNN's filter descriptors have no strides). Half types accumulate in float32 (compute type
// FLOAT); float32 uses TF32 tensor cores only when the matmul precision allows it (FMA math
// otherwise). The algorithm of each problem is chosen once and cached per thread and device: by
// cuDNN's heuristics, or, in benchmark mode, by timing the candidates (cudnnFind*AlgorithmEx, with
// a workspace from Kiln's allocator). Batches whose tensors exceed cuDNN's int32 element counts are
// processed in chunks of images.
#include "conv_cudnn.h"
#include "conv_cudnn_graph.h"
#include "conv_cudnn_problem.h"
#include <algorithm>
#include <array>
#include <climits>
#include <functional>
#include <vector>
#include "allocator.h"
#include "gemm.h"
#include "nvidia_libraries.h"
#include "plan_cache.h"
#include "runtime.h"
#include "tensor_ops.h"

namespace kiln { namespace cuda {
namespace {

using namespace nvidia::cudnn;
using namespace cudnn_conv;

constexpr int kMaxAlgos = 16;

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

// True when t's elements are dense: its strides are a permutation of a packed layout's (size-1
// dims may have any stride). Writes the sizes and strides cuDNN gets (size-1 dims: packed ones).
Dims contiguous_dims(const TensorArg& t);

bool dense_dims(const TensorArg& t, Dims& d) {
  if (t.is_contiguous()) {
    d = contiguous_dims(t);
    return fits_int(t.numel) && fits_int(t.shape[0]) && fits_int(t.shape[1]) && fits_int(t.shape[2]) && fits_int(t.shape[3]);
  }
  int order[4] = {0, 1, 2, 3};
  // innermost first: sort dims by stride (size-1 dims last)
  std::sort(order, order + 4, [&](int a, int b) {
    if ((t.shape[a] == 1) != (t.shape[b] == 1)) return t.shape[b] == 1;
    return t.strides[a] < t.strides[b] || (t.strides[a] == t.strides[b] && a > b);
  });
  int64_t expected = 1;
  int64_t packed[4];
  for (int i = 0; i < 4; ++i) {
    const int dim = order[i];
    if (t.shape[dim] != 1 && t.strides[dim] != expected) return false;
    packed[dim] = expected;
    expected *= t.shape[dim];
  }
  for (int i = 0; i < 4; ++i) {
    if (!fits_int(t.shape[i]) || !fits_int(packed[i])) return false;
    d.n[i] = (int)t.shape[i];
    d.s[i] = (int)packed[i];
  }
  return fits_int(t.numel);
}

Dims contiguous_dims(const TensorArg& t) {
  Dims d;
  int64_t s = 1;
  for (int i = 3; i >= 0; --i) {
    d.n[i] = (int)t.shape[i];
    d.s[i] = (int)s;
    s *= t.shape[i];
  }
  return d;
}

struct Plan {
  bool ok = false;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  size_t workspace = 0;
  void release() {
    const Api* api = cudnn::api();
    if (!api) return;
    if (x) api->cudnnDestroyTensorDescriptor(x);
    if (y) api->cudnnDestroyTensorDescriptor(y);
    if (w) api->cudnnDestroyFilterDescriptor(w);
    if (conv) api->cudnnDestroyConvolutionDescriptor(conv);
  }
};
using Plans = PlanCache<kProblemKeySize, Plan>;
thread_local Plans t_plans;

cudnnMathType_t requested_math(const Problem& p) {
  if (p.dtype == DType::Float32) return p.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  if (p.dtype == DType::Float64) return CUDNN_DEFAULT_MATH;
  return CUDNN_TENSOR_OP_MATH;
}

// A usable search result: it ran (or would), and respects the precision: float32 never converts
// to half, and uses TF32 tensor cores only when allowed.
template <typename Perf>
bool usable(const Perf& r, const Problem& p) {
  if (r.status != CUDNN_STATUS_SUCCESS) return false;
  if (p.dtype == DType::Float32 && r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  if (p.dtype == DType::Float32 && !p.tf32 && r.mathType == CUDNN_TENSOR_OP_MATH) return false;
  return true;
}

// The math type a chosen algorithm runs with: its own, except that float32 without TF32 stays on
// FMA math (DEFAULT math would allow TF32 on Ampere and later).
cudnnMathType_t run_math(cudnnMathType_t chosen, const Problem& p) { return p.dtype == DType::Float32 && !p.tf32 ? CUDNN_FMA_MATH : chosen; }

// Chooses the algorithm of `plan` (descriptors set) by heuristics or by timing. False: none.
template <typename Perf>
bool choose(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, Plan& plan, bool benchmark,
            const std::function<cudnnStatus_t(int, int*, Perf*)>& heuristic, const std::function<cudnnStatus_t(int, int*, Perf*, void*, size_t)>& find,
            const std::function<cudnnStatus_t(int, size_t*)>& workspace_size) {
  Perf perf[kMaxAlgos];
  int n = 0;
  cudnnStatus_t st = heuristic(kMaxAlgos, &n, perf);
  if (unsupported(st)) return false;
  cudnn::check(st, c.name, "cudnnGetConvolution*Algorithm_v7");
  if (benchmark) {
    size_t most = 0;
    for (int i = 0; i < n; ++i)
      if (usable(perf[i], p) && perf[i].memory > most) most = perf[i].memory;
    if (most > kMaxSearchWorkspace) most = kMaxSearchWorkspace;
    DeviceBuffer ws;
    try {
      ws = DeviceBuffer(c.device, most);
    } catch (const KilnError& e) {
      if (e.kind != ErrorKind::Memory) throw;
      most = 0;   // search among the algorithms that need no workspace
    }
    st = find(kMaxAlgos, &n, perf, ws.data, most);
    if (unsupported(st)) return false;
    cudnn::check(st, c.name, "cudnnFindConvolution*AlgorithmEx");
  }
  for (int i = 0; i < n; ++i) {
    if (!usable(perf[i], p)) continue;
    cudnn::check(api->cudnnSetConvolutionMathType(plan.conv, run_math(perf[i].mathType, p)), c.name, "cudnnSetConvolutionMathType");
    size_t bytes = 0;
    st = workspace_size((int)perf[i].algo, &bytes);
    if (st != CUDNN_STATUS_SUCCESS) continue;
    plan.algo = (int)perf[i].algo;
    plan.workspace = bytes;
    plan.ok = true;
    return true;
  }
  return false;
}

Plan make_plan(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, bool benchmark) {
  Plan plan;
  const cudnnDataType_t dt = data_type(p.dtype);
  const conv::Conv2dShape& s = *p.s;
  cudnn::check(api->cudnnCreateTensorDescriptor(&plan.x), c.name, "cudnnCreateTensorDescriptor");
  cudnn::check(api->cudnnCreateTensorDescriptor(&plan.y), c.name, "cudnnCreateTensorDescriptor");
  cudnn::check(api->cudnnCreateFilterDescriptor(&plan.w), c.name, "cudnnCreateFilterDescriptor");
  cudnn::check(api->cudnnCreateConvolutionDescriptor(&plan.conv), c.name, "cudnnCreateConvolutionDescriptor");
  cudnnStatus_t st = api->cudnnSetTensorNdDescriptor(plan.x, dt, 4, p.x.n, p.x.s);
  if (st == CUDNN_STATUS_SUCCESS) st = api->cudnnSetTensorNdDescriptor(plan.y, dt, 4, p.y.n, p.y.s);
  if (st == CUDNN_STATUS_SUCCESS) st = api->cudnnSetFilterNdDescriptor(plan.w, dt, CUDNN_TENSOR_NCHW, 4, p.w.n);
  // half types accumulate in float32; float64 in float64
  if (st == CUDNN_STATUS_SUCCESS)
    st = api->cudnnSetConvolution2dDescriptor(plan.conv, (int)s.ph, (int)s.pw, (int)s.sh, (int)s.sw, (int)s.dh, (int)s.dw, CUDNN_CROSS_CORRELATION,
                                              p.dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT);
  if (st == CUDNN_STATUS_SUCCESS) st = api->cudnnSetConvolutionGroupCount(plan.conv, (int)s.groups);
  if (st == CUDNN_STATUS_SUCCESS) st = api->cudnnSetConvolutionMathType(plan.conv, requested_math(p));
  if (unsupported(st)) return plan;   // not ok: another layout or the im2col path
  cudnn::check(st, c.name, "cudnnSet*Descriptor");
  void* xp = const_cast<void*>(p.xp);
  void* wp = const_cast<void*>(p.wp);
  void* yp = const_cast<void*>(p.yp);
  switch (p.kind) {
    case Kind::Forward:
      choose<cudnnConvolutionFwdAlgoPerf_t>(
          api, h, c, p, plan, benchmark,
          [&](int r, int* n, cudnnConvolutionFwdAlgoPerf_t* out) {
            return api->cudnnGetConvolutionForwardAlgorithm_v7(h, plan.x, plan.w, plan.conv, plan.y, r, n, out);
          },
          [&](int r, int* n, cudnnConvolutionFwdAlgoPerf_t* out, void* ws, size_t bytes) {
            return api->cudnnFindConvolutionForwardAlgorithmEx(h, plan.x, xp, plan.w, wp, plan.conv, plan.y, yp, r, n, out, ws, bytes);
          },
          [&](int algo, size_t* bytes) {
            return api->cudnnGetConvolutionForwardWorkspaceSize(h, plan.x, plan.w, plan.conv, plan.y, (cudnnConvolutionFwdAlgo_t)algo, bytes);
          });
      break;
    case Kind::BackwardData:
      choose<cudnnConvolutionBwdDataAlgoPerf_t>(
          api, h, c, p, plan, benchmark,
          [&](int r, int* n, cudnnConvolutionBwdDataAlgoPerf_t* out) {
            return api->cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.w, plan.y, plan.conv, plan.x, r, n, out);
          },
          [&](int r, int* n, cudnnConvolutionBwdDataAlgoPerf_t* out, void* ws, size_t bytes) {
            return api->cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan.w, wp, plan.y, yp, plan.conv, plan.x, xp, r, n, out, ws, bytes);
          },
          [&](int algo, size_t* bytes) {
            return api->cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.w, plan.y, plan.conv, plan.x, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
          });
      break;
    case Kind::BackwardFilter:
      choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
          api, h, c, p, plan, benchmark,
          [&](int r, int* n, cudnnConvolutionBwdFilterAlgoPerf_t* out) {
            return api->cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, plan.x, plan.y, plan.conv, plan.w, r, n, out);
          },
          [&](int r, int* n, cudnnConvolutionBwdFilterAlgoPerf_t* out, void* ws, size_t bytes) {
            return api->cudnnFindConvolutionBackwardFilterAlgorithmEx(h, plan.x, xp, plan.y, yp, plan.conv, plan.w, wp, r, n, out, ws, bytes);
          },
          [&](int algo, size_t* bytes) {
            return api->cudnnGetConvolutionBackwardFilterWorkspaceSize(h, plan.x, plan.y, plan.conv, plan.w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
          });
      break;
  }
  return plan;
}

// The plan of problem p, made on first use.
Plan& plan_for(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p) {
  const bool benchmark = cudnn::benchmark();
  return t_plans.get(problem_key(c.device, p, benchmark), [&] { return make_plan(api, h, c, p, benchmark); });
}

// Runs the pass; returns cuDNN's status (the caller decides: a refusal on the first chunk leaves the
// problem to the im2col path, any other failure is an error).
cudnnStatus_t run(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, const Plan& plan, bool accumulate) {
  DeviceBuffer ws(c.device, plan.workspace);
  const float one32 = 1.f, zero32 = 0.f;
  const double one64 = 1.0, zero64 = 0.0;
  const bool f64 = p.dtype == DType::Float64;
  const void* alpha = f64 ? (const void*)&one64 : (const void*)&one32;
  const void* beta = accumulate ? alpha : f64 ? (const void*)&zero64 : (const void*)&zero32;
  switch (p.kind) {
    case Kind::Forward:
      return api->cudnnConvolutionForward(h, alpha, plan.x, p.xp, plan.w, p.wp, plan.conv, (cudnnConvolutionFwdAlgo_t)plan.algo, ws.data, plan.workspace, beta,
                                          plan.y, const_cast<void*>(p.yp));
    case Kind::BackwardData:
      return api->cudnnConvolutionBackwardData(h, alpha, plan.w, p.wp, plan.y, p.yp, plan.conv, (cudnnConvolutionBwdDataAlgo_t)plan.algo, ws.data,
                                               plan.workspace, beta, plan.x, const_cast<void*>(p.xp));
    case Kind::BackwardFilter:
      return api->cudnnConvolutionBackwardFilter(h, alpha, plan.x, p.xp, plan.y, p.yp, plan.conv, (cudnnConvolutionBwdFilterAlgo_t)plan.algo, ws.data,
                                                 plan.workspace, beta, plan.w, const_cast<void*>(p.wp));
  }
  return CUDNN_STATUS_SUCCESS;
}

// Images per chunk so that every activation tensor of a chunk has at most INT_MAX elements; a
// multiple of 8 when the batch is split, so every chunk starts 16-byte aligned. 0: not even 8
// images fit (cuDNN is not used).
int64_t int_chunk(const conv::Conv2dShape& s) {
  const int64_t per = std::max<int64_t>({s.C * s.H * s.W, s.O * s.OH * s.OW, 1});
  const int64_t fit = INT_MAX / per;
  return fit >= s.N ? s.N : fit / 8 * 8;
}

// One operand of the call: its view, or a contiguous copy of it in `hold`.
struct Operand {
  TensorArg t;
  Dims dims;
  DeviceBuffer hold;
};

// The operand as cuDNN reads it: with its own strides when dense, else copied (always copied
// when `contiguous` is asked for: the second attempt, or a filter). A start address that is not
// 16-byte aligned (a view with an odd offset) is copied too: cuDNN's vectorised engines need it.
// Outputs are Kiln's own contiguous allocations, aligned: they are never copied.
bool prepare(const KernelCall& c, const TensorArg& t, bool contiguous, Operand& o, bool output = false) {
  o.t = t;
  const bool aligned = ((uintptr_t)t.data & 15) == 0;
  if (!contiguous && aligned && dense_dims(t, o.dims)) return true;
  if (!t.is_contiguous() || !aligned) {
    if (output) return false;
    o.hold = DeviceBuffer(c.device, (size_t)t.numel * dtype_size(t.dtype));
    TensorArg dst = t;
    dst.data = static_cast<char*>(o.hold.data);
    int64_t s = 1;
    for (int i = 3; i >= 0; --i) {
      dst.strides[i] = s;
      s *= t.shape[i];
    }
    copy_strided(c, t, dst);
    o.t = dst;
  }
  o.dims = contiguous_dims(o.t);
  return true;
}

TensorArg slice(const TensorArg& t, int64_t n0, int64_t n) {
  TensorArg r = t;
  r.data = t.data + n0 * t.strides[0] * dtype_size(t.dtype);
  r.shape[0] = n;
  r.numel = t.shape[0] ? t.numel / t.shape[0] * n : 0;
  return r;
}

// Runs one pass over the batch in int-sized chunks. `out_role` is the tensor the pass writes
// (always contiguous: Kiln's output); the other two are read.
bool convolve(KernelCall& c, const conv::Conv2dShape& s, Kind kind, const TensorArg& x, const TensorArg& w, const TensorArg& y) {
  const Api* api = cudnn::api();
  if (!api) return false;
  if (!fits_int(s.C) || !fits_int(s.O) || s.O * s.cg() * s.kh * s.kw > INT_MAX) return false;
  const int64_t nb = int_chunk(s);
  if (nb == 0) return false;
  cudnnHandle_t h = cudnn::handle(c.device, stream_of(c));
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool contiguous = attempt == 1;
    Operand ow;
    // filters have no strides in cuDNN; the output (x, w or y by the pass) is written in place
    if (!prepare(c, w, true, ow, kind == Kind::BackwardFilter)) return false;
    // the plan of the first chunk's geometry; the last chunk may need its own
    bool ok = true, graph_only = true;
    for (int64_t n0 = 0; n0 < s.N && ok; n0 += nb) {
      const int64_t n = std::min(nb, s.N - n0);
      Operand ox, oy;
      if (!prepare(c, slice(x, n0, n), contiguous || kind == Kind::BackwardData, ox, kind == Kind::BackwardData) ||
          !prepare(c, slice(y, n0, n), contiguous || kind == Kind::Forward, oy, kind == Kind::Forward)) {
        if (n0 > 0) fail(ErrorKind::Internal, c.name, "a chunk of the output is not aligned for cuDNN");
        return false;
      }
      Problem p{kind, x.dtype, &s, ox.dims, ow.dims, oy.dims, ox.t.data, ow.t.data, oy.t.data, s.precision > 0};
      const bool accumulate = kind == Kind::BackwardFilter && n0 > 0;
      // the graph API with its cached execution plan (conv_cudnn_graph.h, which also runs the
      // benchmark search) unless it declines the problem
      if (cudnn::graph()) {
        const cudnnStatus_t gs = graph_convolve(api, h, c, p, accumulate);
        if (gs == CUDNN_STATUS_SUCCESS) continue;
        if (!unsupported(gs)) cudnn::check(gs, c.name, "cudnnBackendExecute");
      }
      graph_only = false;
      Plan& plan = plan_for(api, h, c, p);
      const cudnnStatus_t st = plan.ok ? run(api, h, c, p, plan, accumulate) : CUDNN_STATUS_NOT_SUPPORTED;
      if (st == CUDNN_STATUS_SUCCESS) continue;
      // declined (no algorithm, or the chosen one refused at run time): not this layout, for good
      if (n0 > 0 || !unsupported(st)) {
        static const char* const names[] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter"};
        cudnn::check(st, c.name, names[(int)kind]);
      }
      plan.ok = false;
      ok = false;
    }
    if (ok) {
      dense_counts().conv_cudnn++;
      if (graph_only) dense_counts().conv_cudnn_graph++;
      return true;
    }
  }
  return false;
}

}  // namespace

bool cudnn_conv2d(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& x, const TensorArg& w, const TensorArg* bias, TensorArg& y) {
  if (s.N == 0 || s.K() == 0) return false;   // empty products: the im2col path writes zeros and the bias
  if (!convolve(c, s, Kind::Forward, x, w, y)) return false;
  if (bias) add_channel_bias(c, y, *bias, s.N, s.O, s.L());
  return true;
}

bool cudnn_conv2d_backward_input(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& gy, const TensorArg& w, TensorArg& gx) {
  if (s.N == 0 || s.C == 0 || s.og() == 0) return false;
  return convolve(c, s, Kind::BackwardData, gx, w, gy);
}

bool cudnn_conv2d_backward_weight(KernelCall& c, const conv::Conv2dShape& s, const TensorArg& gy, const TensorArg& x, TensorArg& gw) {
  if (s.N == 0 || s.K() == 0 || s.O == 0) return false;
  return convolve(c, s, Kind::BackwardFilter, x, gw, gy);
}

}}  // namespace kiln::cuda
