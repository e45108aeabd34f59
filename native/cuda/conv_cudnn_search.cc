// Benchmark mode's search for the graph API's convolutions (conv_cudnn_graph_parts.h): besides the
// configurations cuDNN's heuristics list, one with default knobs for every engine cuDNN has for the
// graph, each timed on the call's own operands; the fastest plan is kept.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include "allocator.h"
#include "conv_cudnn_graph_parts.h"
#include "stream_hold.h"

namespace kiln { namespace cuda { namespace cudnn_conv { namespace graph {
namespace {

// Benchmark mode's wider search: a configuration with default knobs for every engine cuDNN has for
// `graph` (its global indices 0 .. ENGINE_GLOBAL_COUNT - 1), where the engine takes the graph. The
// heuristics of mode INSTANT list no FFT or Winograd engine for float32 on sm_90, while the
// legacy search found them 2-3x faster than the implicit GEMM they do list (benchmarks.md).
std::vector<Candidate> every_engine_config(Builder& b, cudnnBackendDescriptor_t graph) {
  std::vector<Candidate> out;
  int64_t engines = 0, n = 0;
  if (b.api->cudnnBackendGetAttribute(graph, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &n, &engines) != CUDNN_STATUS_SUCCESS)
    return out;
  for (int64_t index = 0; index < engines; ++index) {
    cudnnBackendDescriptor_t engine = b.make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    b.set(engine, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    b.set(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &index);
    if (b.api->cudnnBackendFinalize(engine) != CUDNN_STATUS_SUCCESS) {   // not an engine for this graph
      b.drop(engine);
      continue;
    }
    cudnnBackendDescriptor_t cfg = b.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    b.set(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &engine);
    if (b.api->cudnnBackendFinalize(cfg) != CUDNN_STATUS_SUCCESS) {
      b.drop(cfg);
      b.drop(engine);
      continue;
    }
    out.push_back(Candidate{cfg, nullptr, 0, notes_of(b, cfg), {cfg, engine}});
  }
  return out;
}

constexpr int kTimedRuns = 3;   // after one warm-up run; the median counts

// How long the stream is held before the timed runs (stream_hold.h): twice the host's time to
// queue them all, as the warm-up run's queueing took, plus some slack; at most kMaxHoldUs (a
// warm-up that took long on the host, loading the engine's kernels, is not a small problem's pace;
// each such candidate then waits up to 5 ms more, once per problem searched).
constexpr double kHoldSlackUs = 50, kMaxHoldUs = 5000;
double hold_us(double queue_one_us) { return std::min(2.0 * (kTimedRuns + 1) * queue_one_us + kHoldSlackUs, kMaxHoldUs); }

// The bytes a tensor of `d` spans, in elements of `dtype`.
size_t span_bytes(const Dims& d, DType dtype) {
  int64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    if (d.n[i] == 0) return 0;
    last += (int64_t)(d.n[i] - 1) * d.s[i];
  }
  return (size_t)(last + 1) * dtype_size(dtype);
}

// Benchmark mode's choice: each candidate run on the problem's operands, timed by events on the
// handle's stream; the median of kTimedRuns runs after a warm-up. The timed runs are queued behind
// a hold of the stream, so that they run back to back: a small problem's run takes less time on
// the GPU than its launch takes on the host, and events around runs the GPU waited for would time
// the host (and favour engines of fewer kernels over faster ones). With `accumulate` (beta 1: the
// output holds a sum the call adds to) the candidates write a scratch buffer of the output's size;
// otherwise the output itself, which the call's own run overwrites. A candidate whose workspace is
// over 1 GiB or cannot be allocated, or which cuDNN refuses to run, is passed over (an error it
// left for the next launch check cleared); a fault found on the device is raised. Returns the
// fastest's index, or -1.
int choose_by_timing(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, const std::vector<Candidate>& candidates, bool accumulate) {
  void* x = const_cast<void*>(p.xp);
  void* w = const_cast<void*>(p.wp);
  void* y = const_cast<void*>(p.yp);
  DeviceBuffer scratch;
  if (accumulate) {
    const Dims& out_dims = p.kind == Kind::Forward ? p.y : p.kind == Kind::BackwardData ? p.x : p.w;
    scratch = DeviceBuffer(c.device, span_bytes(out_dims, p.dtype));
    (p.kind == Kind::Forward ? y : p.kind == Kind::BackwardData ? x : w) = scratch.data;
  }
  const cudaStream_t stream = stream_of(c);
  cudaEvent_t events[kTimedRuns + 1] = {};
  struct DestroyEvents {
    cudaEvent_t* e;
    ~DestroyEvents() {
      for (int i = 0; i <= kTimedRuns; ++i)
        if (e[i]) cudaEventDestroy(e[i]);
    }
  } destroy_events{events};
  for (cudaEvent_t& e : events) KILN_CUDA_CHECK(cudaEventCreate(&e), c.name);
  // a refused run: its launch error (if any) is taken off the runtime so that the next kernel's
  // check does not report it; a sticky fault stays and the next synchronisation raises it
  auto refused = [](cudnnStatus_t st) {
    if (st == CUDNN_STATUS_SUCCESS) return false;
    cudaGetLastError();
    return true;
  };
  int best = -1;
  float best_ms = 0.f;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& cand = candidates[i];
    if (cand.workspace > (int64_t)kMaxSearchWorkspace) continue;
    DeviceBuffer ws;
    try {
      ws = DeviceBuffer(c.device, (size_t)cand.workspace);
    } catch (const KilnError& e) {
      if (e.kind != ErrorKind::Memory) throw;
      continue;
    }
    const auto queued_at = std::chrono::steady_clock::now();
    if (refused(execute(api, h, c, cand.plan, x, w, y, ws.data))) continue;   // the warm-up run
    const double queue_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - queued_at).count();
    KILN_CUDA_CHECK(hold_stream(stream, hold_us(queue_us)), c.name);
    KILN_CUDA_CHECK(cudaEventRecord(events[0], stream), c.name);
    float ms[kTimedRuns];
    bool ran = true;
    for (int r = 0; r < kTimedRuns && ran; ++r) {
      ran = !refused(execute(api, h, c, cand.plan, x, w, y, ws.data));
      KILN_CUDA_CHECK(cudaEventRecord(events[r + 1], stream), c.name);
    }
    KILN_CUDA_CHECK(cudaEventSynchronize(events[kTimedRuns]), c.name);
    if (!ran) continue;
    for (int r = 0; r < kTimedRuns; ++r) KILN_CUDA_CHECK(cudaEventElapsedTime(&ms[r], events[r], events[r + 1]), c.name);
    std::sort(ms, ms + kTimedRuns);
    const float median = ms[kTimedRuns / 2];
    if (g_trace) std::fprintf(stderr, "[kiln cudnn]   timed %s: %.4f ms\n", describe(cand.notes).c_str(), median);
    if (best < 0 || median < best_ms) {
      best = (int)i;
      best_ms = median;
    }
  }
  return best;
}

}  // namespace

int keep_fastest(Builder& b, cudnnHandle_t h, const Problem& p, cudnnBackendDescriptor_t graph, std::vector<Candidate>& tried, bool accumulate) {
  for (Candidate& cand : every_engine_config(b, graph))
    if (consider(b, h, p, cand)) tried.push_back(std::move(cand));
  const int best = choose_by_timing(b.api, h, b.c, p, tried, accumulate);
  for (size_t i = 0; i < tried.size(); ++i) {
    if ((int)i == best) continue;
    b.drop(tried[i].plan);   // the plans not kept, and the engines made for them
    for (cudnnBackendDescriptor_t d : tried[i].made) b.drop(d);
  }
  if (best >= 0 && g_trace) std::fprintf(stderr, "[kiln cudnn]   chosen by timing: %s\n", describe(tried[(size_t)best].notes).c_str());
  return best;
}

}}}}  // namespace kiln::cuda::cudnn_conv::graph
