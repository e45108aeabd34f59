// What building a plan through cuDNN's graph API shares between conv_cudnn_graph.cc (the
// operation graph, the heuristics' choice, each call's execution) and conv_cudnn_search.cc
// (benchmark mode's search by timing). Internal to those two files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "conv_cudnn_problem.h"
#include "library_loader.h"
#include "runtime.h"

namespace kiln { namespace cuda { namespace cudnn_conv { namespace graph {

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
  // Destroys a descriptor made here that the plan will not need.
  void drop(cudnnBackendDescriptor_t d) {
    for (auto it = out.owned.begin(); it != out.owned.end(); ++it)
      if (*it == d) {
        out.owned.erase(it);
        api->cudnnBackendDestroyDescriptor(d);
        return;
      }
  }

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

// KILN_CUDNN_TRACE=1: print each problem's candidates and what became of them (conv_cudnn_graph.cc).
extern const bool g_trace;

// The engine behind `cfg`: its index in cuDNN's engine list and its notes.
struct EngineNotes {
  int64_t index = -1;
  std::vector<cudnnBackendNumericalNote_t> numerical;
  std::vector<cudnnBackendBehaviorNote_t> behavior;
};
EngineNotes notes_of(Builder& b, cudnnBackendDescriptor_t cfg);
// "engine 70 numerical notes [...] behavior notes [...]" for the trace.
std::string describe(const EngineNotes& notes);

// An engine configuration to try: its notes and, once finalized, its execution plan and workspace;
// `made`: the engine and configuration descriptors made for it (not the heuristics'), dropped with
// the plan when another is kept.
struct Candidate {
  cudnnBackendDescriptor_t cfg;
  cudnnBackendDescriptor_t plan;
  int64_t workspace;
  EngineNotes notes;
  std::vector<cudnnBackendDescriptor_t> made;
};

// Whether `cand` may run problem p (the precision rules of conv_cudnn_graph.cc) and finalizes
// into an execution plan; if so its plan and workspace are filled in. What it made for a refused
// candidate is dropped.
bool consider(Builder& b, cudnnHandle_t h, const Problem& p, Candidate& cand);

// Runs `plan` once on device pointers x, w, y (the pass's output among them) with `workspace`.
cudnnStatus_t execute(const Api* api, cudnnHandle_t h, const KernelCall& c, cudnnBackendDescriptor_t plan, void* x, void* w, void* y, void* workspace);

// Benchmark mode (conv_cudnn_search.cc): adds a candidate with default knobs for every engine cuDNN
// has for `graph` to `tried` (the heuristics' usable configurations), times them all on the
// problem's operands (with `accumulate`, beta 1, the output is left alone: they write a scratch
// buffer) and returns the fastest's index (-1: none ran); the others are dropped. A CUDA error
// while they run is raised.
int keep_fastest(Builder& b, cudnnHandle_t h, const Problem& p, cudnnBackendDescriptor_t graph, std::vector<Candidate>& tried, bool accumulate);

}}}}  // namespace kiln::cuda::cudnn_conv::graph
