// The convolutions through cuDNN's graph (backend) API (conv_cudnn_graph.h).
//
// Per problem, once: three tensor descriptors (x, w, y with the same dims and strides the legacy
// path uses; unique ids 'x', 'w', 'y'), a convolution descriptor, one convolution operation (the
// pass's kind, alpha 1 and beta 0 or 1), an operation graph; then the engine configurations cuDNN's
// heuristics list (mode INSTANT, then FALLBACK), in order, the first whose engine respects the
// precision and finalizes into an execution plan is kept with its workspace size. In benchmark mode
// (setCudnnBenchmark, as torch.backends.cudnn.benchmark) every such configuration, and one with
// default knobs for every other engine cuDNN has for the graph, is timed on the call's own operands
// and the fastest is kept (choose_by_timing). Per call: a
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
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>
#include "allocator.h"
#include "conv_cudnn_graph_parts.h"
#include "plan_cache.h"

namespace kiln { namespace cuda { namespace cudnn_conv {
namespace graph {
namespace {

// Diagnostics, read once from the environment: KILN_CUDNN_TRACE=1 prints, for each problem whose
// plan is built, every engine configuration the heuristics list (engine index, notes) and what
// became of it; KILN_CUDNN_RUNTIME_COMPILATION=1 lets engines compiled at run time be chosen (the
// first call of each shape then waits for NVRTC), to measure what refusing them costs.
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, "1") == 0;
}
const bool g_runtime_compilation = env_flag("KILN_CUDNN_RUNTIME_COMPILATION");

}  // namespace

const bool g_trace = env_flag("KILN_CUDNN_TRACE");   // declared extern in conv_cudnn_graph_parts.h

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
  b.drop(engine);   // read: the configuration holds its own
  return notes;
}

std::string describe(const EngineNotes& notes) {
  std::string s = "engine " + std::to_string(notes.index) + " numerical notes [";
  for (size_t i = 0; i < notes.numerical.size(); ++i) s += (i ? "," : "") + std::to_string((int)notes.numerical[i]);
  s += "] behavior notes [";
  for (size_t i = 0; i < notes.behavior.size(); ++i) s += (i ? "," : "") + std::to_string((int)notes.behavior[i]);
  return s + "]";
}

namespace {
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

}  // namespace

bool consider(Builder& b, cudnnHandle_t h, const Problem& p, Candidate& cand) {
  auto refuse = [&](const char* why) {
    if (g_trace) std::fprintf(stderr, "[kiln cudnn]   %s: %s\n", describe(cand.notes).c_str(), why);
    for (cudnnBackendDescriptor_t d : cand.made) b.drop(d);
    cand.made.clear();
    return false;
  };
  if (!acceptable(cand.notes, p)) return refuse("refused (precision or run-time compilation)");
  cudnnBackendDescriptor_t plan = b.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
  b.set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
  b.set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cand.cfg);
  // any status but success passes the configuration over (benchmark mode finalizes every engine
  // with default knobs: one that fails otherwise must not end the search)
  if (b.api->cudnnBackendFinalize(plan) != CUDNN_STATUS_SUCCESS) {
    b.drop(plan);
    return refuse("does not finalize");
  }
  int64_t n = 0;
  cudnn::check(b.api->cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &cand.workspace), b.c.name,
               "cudnnBackendGetAttribute(EXECUTION_PLAN_WORKSPACE_SIZE)");
  cand.plan = plan;
  if (g_trace) std::fprintf(stderr, "[kiln cudnn]   %s: usable, workspace %lld bytes\n", describe(cand.notes).c_str(), (long long)cand.workspace);
  return true;
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

}  // namespace graph

namespace {
using namespace graph;

using GraphPlans = PlanCache<kProblemKeySize, GraphPlan>;
thread_local GraphPlans t_graph_plans;

std::mutex g_reason_mutex;
std::string g_reason;   // graph_fallback_reason()

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

// The engine configurations cuDNN's heuristics list for `graph` in `mode`, best first.
std::vector<cudnnBackendDescriptor_t> heuristic_configs(Builder& b, cudnnBackendDescriptor_t graph, cudnnBackendHeurMode_t mode, const Problem& p) {
  std::vector<cudnnBackendDescriptor_t> configs;
  cudnnBackendDescriptor_t heur = b.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  b.set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  b.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  const cudnnStatus_t st = b.api->cudnnBackendFinalize(heur);
  if (unsupported(st)) return configs;
  cudnn::check(st, b.c.name, "cudnnBackendFinalize(engine heuristics)");
  int64_t count = 0;
  cudnn::check(b.api->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr), b.c.name,
               "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)");
  for (int64_t i = 0; i < count; ++i) configs.push_back(b.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  int64_t got = 0;
  if (count > 0)
    cudnn::check(b.api->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, configs.data()), b.c.name,
                 "cudnnBackendGetAttribute(ENGINEHEUR_RESULTS)");
  configs.resize((size_t)got);
  if (g_trace)
    std::fprintf(stderr, "[kiln cudnn] %s %s: heuristics mode %d list %lld configurations\n", b.c.name, trace_problem(p).c_str(), (int)mode, (long long)got);
  return configs;
}

GraphPlan make_graph_plan(const Api* api, cudnnHandle_t h, const KernelCall& c, const Problem& p, bool accumulate, bool benchmark) {
  GraphPlan plan;
  Builder b{api, c, plan};
  const cudnnDataType_t io = data_type(p.dtype);
  const bool f64 = p.dtype == DType::Float64;
  const cudnnDataType_t compute = f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;   // half types accumulate in float32
  bool timing = false;   // benchmark mode's runs on the device have begun: their errors are errors
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

    // the configurations to try, in order: the heuristics' lists (INSTANT, then FALLBACK), then in
    // benchmark mode every engine cuDNN has for this graph with its default knobs
    std::vector<Candidate> tried;
    for (const cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_INSTANT, CUDNN_HEUR_MODE_FALLBACK}) {
      for (cudnnBackendDescriptor_t cfg : heuristic_configs(b, graph, heur_mode, p)) {
        Candidate cand{cfg, nullptr, 0, notes_of(b, cfg), {}};
        if (!consider(b, h, p, cand)) continue;
        if (!benchmark) {
          plan.plan = cand.plan;
          plan.workspace = cand.workspace;
          plan.ok = true;
          return plan;
        }
        tried.push_back(std::move(cand));
      }
    }
    if (!benchmark) return plan;   // no engine suits: the legacy path's
    timing = true;
    const int best = keep_fastest(b, h, p, graph, tried, accumulate);
    if (best >= 0) {
      plan.plan = tried[(size_t)best].plan;
      plan.workspace = tried[(size_t)best].workspace;
      plan.ok = true;
    }
    return plan;   // ok unless no engine suits: the legacy path's then
  } catch (const KilnError& e) {
    plan.release();
    // a device fault or an allocation failure while candidates ran is the caller's error, not a
    // problem for the legacy path (which would run on the same broken context)
    if (e.kind == ErrorKind::Memory || timing) throw;
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
