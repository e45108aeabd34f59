// Loading cuBLASLt (libcublasLt.so.13, else .12), its version check, per-thread handles and status
// checks. See nvidia_libraries.h.
#include <atomic>
#include <mutex>
#include <vector>
#include "kiln/kernel.h"
#include "library_loader.h"
#include "nvidia_libraries.h"

namespace kiln { namespace cuda { namespace cublaslt {
namespace {

LibraryState<Api> g_lib;
Api& g_api = g_lib.api;
LibraryStatus& g_status = g_lib.status;

void load() {
  if (env_flag("KILN_DISABLE_CUBLASLT")) {
    g_lib.enabled = false;
    g_status.reason = "disabled by KILN_DISABLE_CUBLASLT";
    return;
  }
  OpenedLibrary lib = open_library({"libcublasLt.so.13", "libcublasLt.so.12"});
  if (!lib.handle) {
    g_status.reason = not_found_message("cuBLASLt (libcublasLt.so.13 or .12)", lib.error);
    return;
  }
  g_status.path = lib.path;
  std::string missing;
#define KILN_RESOLVE(name, ret, params) resolve(g_api.name, lib.handle, #name, missing);
  KILN_CUBLASLT_FUNCTIONS(KILN_RESOLVE)
#undef KILN_RESOLVE
  if (!missing.empty()) {
    g_status.reason = lib.path + " does not export " + missing;
    return;
  }
  // CUBLAS_VERSION = major * 10000 + minor * 100 + patch (cuBLAS 11 and later)
  const size_t v = g_api.cublasLtGetVersion();
  const size_t major = v / 10000;
  g_status.version = std::to_string(major) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  if (major != 12 && major != 13) {
    g_status.reason = lib.path + " is cuBLASLt " + g_status.version + "; Kiln's declarations (native/cuda/cublaslt_api.h) describe cuBLASLt 12 and 13";
    return;
  }
  g_status.available = true;
}

void ensure_loaded() { std::call_once(g_lib.once, load); }

// This thread's handles, one per device, destroyed when the thread ends.
struct Handles {
  std::vector<cublasLtHandle_t> per_device;
  ~Handles() {
    for (cublasLtHandle_t h : per_device)
      if (h) g_api.cublasLtDestroy(h);
  }
};
thread_local Handles t_handles;

}  // namespace

LibraryStatus status() {
  ensure_loaded();
  return g_lib.report();
}

const Api* api() {
  ensure_loaded();
  return g_lib.usable();
}

void set_enabled(bool on) { g_lib.enabled = on; }

cublasLtHandle_t handle(int device) {
  std::vector<cublasLtHandle_t>& v = t_handles.per_device;
  if ((int)v.size() <= device) v.resize(device + 1, nullptr);
  if (!v[device]) check(g_api.cublasLtCreate(&v[device]), "cuBLASLt", "cublasLtCreate");
  return v[device];
}

void check(cublasStatus_t s, const char* op, const char* call) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  const char* text = g_api.cublasLtGetStatusString ? g_api.cublasLtGetStatusString(s) : "unknown status";
  std::string msg = std::string("cuBLASLt ") + call + " failed: " + (text ? text : "unknown status") + " (status " + std::to_string((int)s) + ")";
  fail(s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::Memory : ErrorKind::Cuda, op, msg);
}

}}}  // namespace kiln::cuda::cublaslt
