// NVIDIA's optional libraries as the CUDA device uses them: cuBLASLt (matmul, bmm, linear) and
// cuDNN 9 (conv2d and its backward passes), each loaded once per process, on first use, by
// library_loader.h's search; NVRTC is loaded alongside cuDNN for its runtime-compiled engines.
// Where a library is missing, disabled (KILN_DISABLE_CUBLASLT=1, KILN_DISABLE_CUDNN=1,
// setLibraryEnabled) or of a version whose ABI Kiln's declarations do not describe, its op
// families run on Kiln's own kernels. Handles are per OS thread and per device (thread_local),
// created lazily; every status is checked and turned into a typed error naming the op.
#pragma once
#include <atomic>
#include <mutex>
#include <string>
#include "cublaslt_api.h"
#include "cudnn_api.h"

namespace kiln { namespace cuda {

struct LibraryStatus {
  bool available = false;   // loaded, its entry points found, its version one Kiln supports
  bool enabled = true;      // not switched off (environment variable or setLibraryEnabled)
  std::string version;      // e.g. "13.0.2"
  std::string path;         // the file loaded
  std::string reason;       // why it is not available (empty when it is)
};

// One library's process-wide state (each library's .cc holds one): what loading it found, its
// entry points, and the switch.
template <typename Api>
struct LibraryState {
  Api api;
  LibraryStatus status;          // written once, by the loader, under `once`
  std::once_flag once;
  std::atomic<bool> enabled{true};
  LibraryStatus report() const {
    LibraryStatus s = status;
    s.enabled = enabled;
    return s;
  }
  const Api* usable() const { return status.available && enabled ? &api : nullptr; }
};

namespace cublaslt {
using namespace nvidia::cublaslt;
// Loads the library on first call (thread-safe) and reports what happened.
LibraryStatus status();
// The entry points when the library is available and enabled, else null.
const Api* api();
void set_enabled(bool on);
// This thread's handle for `device` (the current device), created on first use.
cublasLtHandle_t handle(int device);
// Throws a KilnError naming `op` and the call when `s` is not success (ALLOC_FAILED: Memory).
void check(cublasStatus_t s, const char* op, const char* call);
}  // namespace cublaslt

namespace cudnn {
using namespace nvidia::cudnn;
LibraryStatus status();
const Api* api();
void set_enabled(bool on);
// NVRTC, loaded with cuDNN for its runtime-compiled engines (optional: cuDNN works without).
LibraryStatus nvrtc_status();
// This thread's handle for `device`, bound to `stream`.
cudnnHandle_t handle(int device, cudaStream_t stream);
void check(cudnnStatus_t s, const char* op, const char* call);
// As torch.backends.cudnn.benchmark: choose each problem's engine (graph API) or algorithm (legacy
// API, cudnnFind*AlgorithmEx) by timing the candidates instead of taking the heuristics' first.
bool benchmark();
void set_benchmark(bool on);
// Convolutions through the graph API with cached execution plans (conv_cudnn_graph.h), the default;
// false: the legacy API only. Starts false when KILN_CUDNN_GRAPH is 0 or false.
bool graph();
void set_graph(bool on);
}  // namespace cudnn

}}  // namespace kiln::cuda
