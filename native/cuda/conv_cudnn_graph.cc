// The convolutions through cuDNN's graph (backend) API (conv_cudnn_graph.h).
//
// Per problem, once: three tensor descriptors (x, w, y with the same dims and strides the legacy
// path uses; unique ids 'x', 'w', 'y'), a convolution descriptor, one convolution operation (the
// pass's kind, alpha 1 and beta 0 or 1), an operation graph; then the engine configurations cuDNN's
// heuristics list (mode INSTANT, then FALLBACK), in order, the first whose engine respects the
// precision and finalizes into an execution plan is kept with its workspace size; in benchmark mode
// (setCudnnBenchmark, as torch.backends.cudnn.benchmark) every such configuration is timed on the
// call's own operands instead and the fastest is kept (choose_by_timing). Per call: a
// variant pack (the three device pointers and the workspace, from Kiln's caching allocator) and
// cudnnBackendExecute. The descriptors live as long as the plan, in a per-thread cache as the
// legacy path's (plan_cache.h).
//
// The precision rules are the legacy path's: float32 uses TF32 tensor cores only when the matmul
// precision allows it (engines with the TENSOR_CORE note are refused otherwise); no engine may
// convert inputs down (DOWN_CONVERT_INPUTS) or reduce in a precision below float32
// (REDUCED_PRECISION_REDUCTION); engines compiled at run time (RUNTIME_COMPILATION) are refused
// too, so that the first call of a shape does not stall on NVRTC.
#include "conv_cudnn_graph.h"
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>
#include "allocator.h"
#include "library_loader.h"
#include "plan_cache.h"
#include "runtime.h"

namespace kiln { namespace cuda { namespace cudnn_conv {
namespace {

constexpr int64_t kUidX = 'x', kUidW = 'w', kUidY = 'y';
constexpr int kMaxNotes = 32;

// A plan and every descriptor it was built from (the plan refers to them).
struct GraphPlan {
  bool ok = false;
  cudnnBackendDescriptor_t plan = nullptr;
  int64_t workspace = 0;
  std::vector<cudnnBackendDescriptor_t> owned;
  void release() {
    const Api* api = cudnn::api();
    if (!api) return;
    for (auto it = owned.rbegin(); it != owned.rend(); ++it) api->cudnnBackendDestroyDescriptor(*it);
    owned.clear();
  }
};
using GraphPlans = PlanCache<kProblemKeySize, GraphPlan>;
thread_local GraphPlans t_graph_plans;

std::mutex g_reason_mutex;
std::string g_reason;   // graph_fallback_reason()

// Builds descriptors for one plan, owning what it creates; a failed step fails the KernelCall with
// the cuDNN call's name, except where the caller asks for the status (finalizing a candidate).
struct Builder {
  const Api* api;
  const KernelCall& c;
  GraphPlan& out;

  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type) {
    cudnnBackendDescriptor_t d = nullptr;
    cudnn::check(api->cudnnBackendCreateDescriptor(type, &d), c.name, "cudnnBackendCreateDescriptor");
    out.owned.push_back(d);
    return d;
  }
  void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t n, const void* values) {
    cudnn::check(api->cudnnBackendSetAttribute(d, name, type, n, values), c.name, "cudnnBackendSetAttribute");
  }
  void finalize(cudnnBackendDescriptor_t d) { cudnn::check(api->cudnnBackendFinalize(d), c.name, "cudnnBackendFinalize"); }

  cudnnBackendDescriptor_t tensor(int64_t uid, const Dims& dims, cudnnDataType_t type) {
    cudnnBackendDescriptor_t t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t n[4], s[4];
    for (int i = 0; i < 4; ++i) {
      n[i] = dims.n[i];
      s[i] = dims.s[i];
    }
    const int64_t alignment = 16;   // every operand starts 16-byte aligned (conv_cudnn.cc copies one that does not)
    set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, n);
    set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, s);
    set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    finalize(t);
    return t;
  }
};

// Diagnostics, read once from the environment: KILN_CUDNN_TRACE=1 prints, for each problem whose
// plan is built, every engine configuration the heuristics list (engine index, notes) and what
// became of it; KILN_CUDNN_RUNTIME_COMPILATION=1 lets engines compiled at run time be chosen (the
// first call of each shape then waits for NVRTC), to measure what refusing them costs.
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, "1") == 0;
}
const bool g_trace = env_flag("KILN_CUDNN_TRACE");
const bool g_runtime_compilation = env_flag("KILN_CUDNN_RUNTIME_COMPILATION");

// The engine behind `cfg`: its index in cuDNN's engine list and its notes.
struct EngineNotes {
  int64_t index = -1;
  std::vector<cudnnBackendNumericalNote_t> numerical;
  std::vector<cudnnBackendBehaviorNote_t> behavior;
};
EngineNotes notes_of(Builder& b, cudnnBackendDescriptor_t cfg) {
  cudnnBackendDescriptor_t engine = b.make(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t n = 0;
  cudnn::check(b.api->cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engine), b.c.name,
               "cudnnBackendGetAttribute(ENGINECFG_ENGINE)");
  EngineNotes notes;
  // the index is for the trace alone: a failure to read it leaves -1 and changes no choice
  if (g_trace && b.api->cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &notes.index) != CUDNN_STATUS_SUCCESS)
    notes.index = -1;
  notes.numerical.resize(kMaxNotes);
  notes.behavior.resize(kMaxNotes);
  n = 0;
  cudnn::check(b.api->cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, kMaxNotes, &n, notes.numerical.data()),
               b.c.name, "cudnnBackendGetAttribute(ENGINE_NUMERICAL_NOTE)");
  notes.numerical.resize((size_t)n);
  n = 0;
  cudnn::check(b.api->cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, kMaxNotes, &n, notes.behavior.data()),
               b.c.name, "cudnnBackendGetAttribute(ENGINE_BEHAVIOR_NOTE)");
  notes.behavior.resize((size_t)n);
  return notes;
}

std::string describe(const EngineNotes& notes) {
  std::string s = "engine " + std::to_string(notes.index) + " numerical notes [";
  for (size_t i = 0; i < notes.numerical.size(); ++i) s += (i ? "," : "") + std::to_string((int)notes.numerical[i]);
  s += "] behavior notes [";
  for (size_t i = 0; i < notes.behavior.size(); ++i) s += (i ? "," : "") + std::to_string((int)notes.behavior[i]);
  return s + "]";
}

// The precision rules of the file's comment.
bool acceptable(const EngineNotes& notes, const Problem& p) {
  for (cudnnBackendNumericalNote_t n : notes.numerical) {
    if (n == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS || n == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return false;
    if (n == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && p.dtype == DType::Float32 && !p.tf32) return false;
  }
  for (cudnnBackendBehaviorNote_t n : notes.behavior)
    if (n == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION && !g_runtime_compilation) return false;
  return true;
}

// The operation of one pass: its descriptor type and the attribute names of its operands.
struct OperationNames {
  cudnnBackendDescriptorType_t type;
  cudnnBackendAttributeName_t alpha, beta, conv, x, w, y;
};
OperationNames operation_names(Kind kind) {
  switch (kind) {
    case Kind::Forward:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
              CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y};
    case Kind::BackwardData:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY};
    case Kind::BackwardFilter:
    default:
      return {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
              CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY};
  }
}

// "x [N, C, H, W] w [...] y [...] float32" for the trace.
std::string trace_problem(const Problem& p) {
  auto dims = [](const Dims& d) {
    return "[" + std::to_string(d.n[0]) + ", " + std::to_string(d.n[1]) + ", " + std::to_string(d.n[2]) + ", " + std::to_string(d.n[3]) + "]";
  };
  return "x " + dims(p.x) + " w " + dims(p.w) + " y " + dims(p.y) + " " + dtype_name(p.dtype) + (p.tf32 ? " tf32" : "");
}

// Runs `plan` once on device pointers x, w, y (the pass's output among them) with `workspace`.
cudnnStatus_t execute(const Api* api, cudnnHandle_t h, const KernelCall& c, cudnnBackendDescriptor_t plan, void* x, void* w, void* y, void* workspace) {
  const int64_t uids[3] = {kUidX, kUidW, kUidY};
  void* pointers[3] = {x, w, y};
  cudnnBackendDescriptor_t pack = nullptr;
  cudnn::check(api->cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack), c.name, "cudnnBackendCreateDescriptor(variant pack)");
  struct Destroy {
    const Api* api;
    cudnnBackendDescriptor_t d;
    ~Destroy() { api->cudnnBackendDestroyDescriptor(d); }
  } destroy{api, pack};
  cudnn::check(api->cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids), c.name, "cudnnBackendSetAttribute");
  cudnn::check(api->cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers), c.name,
               "cudnnBackendSetAttribute");
  cudnn::check(api->cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace), c.name, "cudnnBackendSetAttribute");
  cudnn::check(api->cudnnBackendFinalize(pack), c.name, "cudnnBackendFinalize(variant pack)");
  return api->cudnnBackendExecute(h, plan, pack);
}

// A finalized execution plan among those benchmark mode times.
struct Candidate {
  cudnnBackendDescriptor_t plan;
  int64_t workspace;
  EngineNotes notes;
};

constexpr int kTimedRuns = 3;                                // after one warm-up run; the median counts
constexpr int64_t kMaxTimedWorkspace = int64_t(1) << 30;    // as the legacy search's 1 GiB

// The bytes a tensor of `d` spans, in elements of `dtype`.
size_t span_bytes(const Dims& d, DType dtype) {
  int64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    if (d.n[i] == 0) return 0;
    last += (int64_t)(d.n[i] - 1) * d.s[i];
  }
  return (size_t)(last + 1) * dtype_size(dtype);
}

// Benchmark mode's choice: each candidate run on the problem's operands, its output written to a
// scratch buffer of the output's size (the real output may hold a sum that beta 1 adds to, and a
// failed candidate must not leave anything in it), timed by events on the handle's stream; the
// median of kTimedRuns runs after a warm-up. A candidate whose workspace is over 1 GiB, cannot be
// allocated, or which refuses to run is passed over. Returns the fastest's index, or -1.
int choose_by_timing(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, const std::vector<Candidate>& candidates) {
  const Dims& out_dims = p.kind == Kind::Forward ? p.y : p.kind == Kind::BackwardData ? p.x : p.w;
  DeviceBuffer scratch(c.device, span_bytes(out_dims, p.dtype));
  void* x = const_cast<void*>(p.xp);
  void* w = const_cast<void*>(p.wp);
  void* y = const_cast<void*>(p.yp);
  (p.kind == Kind::Forward ? y : p.kind == Kind::BackwardData ? x : w) = scratch.data;
  const cudaStream_t stream = stream_of(c);
  cudaEvent_t events[kTimedRuns + 1];
  for (cudaEvent_t& e : events) KILN_CUDA_CHECK(cudaEventCreate(&e), c.name);
  struct DestroyEvents {
    cudaEvent_t* e;
    ~DestroyEvents() {
      for (int i = 0; i <= kTimedRuns; ++i) cudaEventDestroy(e[i]);
    }
  } destroy_events{events};
  int best = -1;
  float best_ms = 0.f;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& cand = candidates[i];
    if (cand.workspace > kMaxTimedWorkspace) continue;
    DeviceBuffer ws;
    try {
      ws = DeviceBuffer(c.device, (size_t)cand.workspace);
    } catch (const KilnError& e) {
      if (e.kind != ErrorKind::Memory) throw;
      continue;
    }
    if (execute(api, h, c, cand.plan, x, w, y, ws.data) != CUDNN_STATUS_SUCCESS) continue;   // warm-up; a refusal passes it over
    KILN_CUDA_CHECK(cudaEventRecord(events[0], stream), c.name);
    float ms[kTimedRuns];
    bool ran = true;
    for (int r = 0; r < kTimedRuns && ran; ++r) {
      ran = execute(api, h, c, cand.plan, x, w, y, ws.data) == CUDNN_STATUS_SUCCESS;
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

GraphPlan make_graph_plan(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, bool accumulate, bool benchmark) {
  GraphPlan plan;
  Builder b{api, c, plan};
  const cudnnDataType_t io = data_type(p.dtype);
  const bool f64 = p.dtype == DType::Float64;
  const cudnnDataType_t compute = f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;   // half types accumulate in float32
  try {
    cudnnBackendDescriptor_t x = b.tensor(kUidX, p.x, io), w = b.tensor(kUidW, p.w, io), y = b.tensor(kUidY, p.y, io);

    const conv::Conv2dShape& s = *p.s;
    cudnnBackendDescriptor_t conv = b.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    const int64_t spatial = 2, dilations[2] = {s.dh, s.dw}, strides[2] = {s.sh, s.sw}, pads[2] = {s.ph, s.pw};
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    b.set(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &compute);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dilations);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
    b.set(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
    b.finalize(conv);

    // groups follow from the tensors: x has C channels, w has C / groups
    const OperationNames names = operation_names(p.kind);
    cudnnBackendDescriptor_t op = b.make(names.type);
    b.set(op, names.x, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    b.set(op, names.w, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
    b.set(op, names.y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    b.set(op, names.conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv);
    const float alpha32 = 1.f, beta32 = accumulate ? 1.f : 0.f;
    const double alpha64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
    b.set(op, names.alpha, f64 ? CUDNN_TYPE_DOUBLE : CUDNN_TYPE_FLOAT, 1, f64 ? (const void*)&alpha64 : (const void*)&alpha32);
    b.set(op, names.beta, f64 ? CUDNN_TYPE_DOUBLE : CUDNN_TYPE_FLOAT, 1, f64 ? (const void*)&beta64 : (const void*)&beta32);
    cudnnStatus_t st = api->cudnnBackendFinalize(op);
    if (unsupported(st)) return plan;   // not a problem cuDNN's graph API takes: the legacy path's
    cudnn::check(st, c.name, "cudnnBackendFinalize(operation)");

    cudnnBackendDescriptor_t graph = b.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    b.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op);
    st = api->cudnnBackendFinalize(graph);
    if (unsupported(st)) return plan;
    cudnn::check(st, c.name, "cudnnBackendFinalize(operation graph)");

    std::vector<Candidate> candidates;   // benchmark mode's
    for (const cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_INSTANT, CUDNN_HEUR_MODE_FALLBACK}) {
      cudnnBackendDescriptor_t heur = b.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
      b.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
      b.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode);
      st = api->cudnnBackendFinalize(heur);
      if (unsupported(st)) continue;
      cudnn::check(st, c.name, "cudnnBackendFinalize(engine heuristics)");
      int64_t count = 0;
      cudnn::check(api->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr), c.name,
                   "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)");
      std::vector<cudnnBackendDescriptor_t> configs;
      for (int64_t i = 0; i < count; ++i) configs.push_back(b.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
      int64_t got = 0;
      if (count > 0)
        cudnn::check(api->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, configs.data()), c.name,
                     "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)");
      if (g_trace)
        std::fprintf(stderr, "[kiln cudnn] %s %s: heuristics mode %d list %lld configurations\n", c.name, trace_problem(p).c_str(), (int)heur_mode,
                     (long long)got);
      for (int64_t i = 0; i < got; ++i) {
        const EngineNotes notes = notes_of(b, configs[(size_t)i]);
        if (!acceptable(notes, p)) {
          if (g_trace) std::fprintf(stderr, "[kiln cudnn]   %lld: %s: refused (precision or run-time compilation)\n", (long long)i, describe(notes).c_str());
          continue;
        }
        cudnnBackendDescriptor_t candidate = b.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
        b.set(candidate, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
        b.set(candidate, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &configs[(size_t)i]);
        st = api->cudnnBackendFinalize(candidate);
        if (unsupported(st)) {   // this configuration does not run this problem: the next one
          if (g_trace) std::fprintf(stderr, "[kiln cudnn]   %lld: %s: does not finalize (%d)\n", (long long)i, describe(notes).c_str(), (int)st);
          continue;
        }
        cudnn::check(st, c.name, "cudnnBackendFinalize(execution plan)");
        int64_t n = 0;
        cudnn::check(api->cudnnBackendGetAttribute(candidate, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &plan.workspace), c.name,
                     "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)");
        if (benchmark) {
          candidates.push_back({candidate, plan.workspace, notes});
          continue;
        }
        if (g_trace)
          std::fprintf(stderr, "[kiln cudnn]   %lld: %s: chosen, workspace %lld bytes\n", (long long)i, describe(notes).c_str(), (long long)plan.workspace);
        plan.plan = candidate;
        plan.ok = true;
        return plan;
      }
    }
    if (benchmark) {
      const int best = choose_by_timing(api, h, c, p, candidates);
      if (best >= 0) {
        if (g_trace) std::fprintf(stderr, "[kiln cudnn]   chosen by timing: %s\n", describe(candidates[(size_t)best].notes).c_str());
        plan.plan = candidates[(size_t)best].plan;
        plan.workspace = candidates[(size_t)best].workspace;
        plan.ok = true;
      }
    }
    return plan;   // ok unless no engine suits: the legacy path's then
  } catch (const KilnError& e) {
    plan.release();
    if (e.kind == ErrorKind::Memory) throw;
    // a descriptor cuDNN would not take: this problem runs on the legacy API (see the header)
    std::lock_guard<std::mutex> lock(g_reason_mutex);
    g_reason = e.what();
    return GraphPlan{};
  } catch (...) {
    plan.release();
    throw;
  }
}

}  // namespace

std::string graph_fallback_reason() {
  std::lock_guard<std::mutex> lock(g_reason_mutex);
  return g_reason;
}

cudnnStatus_t graph_convolve(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, bool accumulate) {
  const bool benchmark = cudnn::benchmark();
  GraphPlan& plan =
      t_graph_plans.get(problem_key(c.device, p, accumulate + 2 * benchmark), [&] { return make_graph_plan(api, h, c, p, accumulate, benchmark); });
  if (!plan.ok) return CUDNN_STATUS_NOT_SUPPORTED;
  DeviceBuffer ws(c.device, (size_t)plan.workspace);
  return execute(api, h, c, plan.plan, const_cast<void*>(p.xp), const_cast<void*>(p.wp), const_cast<void*>(p.yp), ws.data);
}

}}}  // namespace kiln::cuda::cudnn_conv
