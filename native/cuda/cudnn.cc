// Loading cuDNN 9 (libcudnn.so.9 and its sub-libraries, NVRTC for the runtime-compiled engines),
// its version check, per-thread handles bound to the device's stream, and status checks. See
// nvidia_libraries.h.
//
// libcudnn.so.9 is a small shim that dlopens its sub-libraries by name (libcudnn_graph.so.9,
// libcudnn_cnn.so.9, ...) when first needed. When the folder holding them is not on the loader's
// path (pip's wheels: site-packages/nvidia/cudnn/lib), those dlopens would fail; so they are opened
// here first, by path, from the shim's folder: a library already loaded under a soname satisfies
// every later dlopen of that name. NVRTC is opened the same way, at the CUDA major version cuDNN was
// built for.
#include <glob.h>
#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <string>
#include <mutex>
#include <vector>
#include "kiln/kernel.h"
#include "library_loader.h"
#include "nvidia_libraries.h"

namespace kiln { namespace cuda { namespace cudnn {
namespace {

LibraryState<Api> g_lib;
Api& g_api = g_lib.api;
LibraryStatus& g_status = g_lib.status;
LibraryStatus g_nvrtc;
std::atomic<bool> g_benchmark{false};
std::atomic<bool> g_graph{[] {
  const char* v = std::getenv("KILN_CUDNN_GRAPH");
  return !(v && (std::string(v) == "0" || std::string(v) == "false"));
}()};

std::string folder_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> files_matching(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  globfree(&g);
  return out;
}

// NVRTC at CUDA major version `major`, and its builtins library from the same folder.
void load_nvrtc(size_t major) {
  const std::string soname = "libnvrtc.so." + std::to_string(major);
  OpenedLibrary lib = open_library({soname});
  if (!lib.handle) {
    g_nvrtc.reason = soname + " was not found (" + lib.error + "): cuDNN's runtime-compiled engines are unavailable";
    return;
  }
  g_nvrtc.path = lib.path;
  g_nvrtc.version = std::to_string(major);
  g_nvrtc.reason.clear();   // load() set "not loaded: cuDNN was not found" before it found cuDNN
  for (const std::string& f : files_matching(folder_of(lib.path) + "/libnvrtc-builtins.so." + std::to_string(major) + "*")) open_file(f);
  g_nvrtc.available = true;
}

void load() {
  if (env_flag("KILN_DISABLE_CUDNN")) {
    g_lib.enabled = false;
    g_status.reason = "disabled by KILN_DISABLE_CUDNN";
    g_nvrtc.reason = "not loaded: cuDNN is disabled";
    return;
  }
  g_nvrtc.reason = "not loaded: cuDNN was not found";
  OpenedLibrary lib = open_library({"libcudnn.so.9"});
  if (!lib.handle) {
    g_status.reason = not_found_message("cuDNN 9 (libcudnn.so.9)", lib.error);
    return;
  }
  g_status.path = lib.path;
  const std::string dir = folder_of(lib.path);
  auto open_sub = [&](const char* name, bool required) -> bool {
    const std::string p = dir + "/" + name;
    OpenedLibrary r = access(p.c_str(), R_OK) == 0 ? open_file(p) : open_library({name});
    if (r.handle || !required) return true;
    g_status.reason = "cuDNN's " + std::string(name) + " could not be loaded from " + dir + ": " + r.error;
    return false;
  };
  for (const char* name : {"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9"})
    if (!open_sub(name, true)) return;
  std::string missing;
#define KILN_RESOLVE(name, ret, params) resolve(g_api.name, lib.handle, #name, missing);
  KILN_CUDNN_FUNCTIONS(KILN_RESOLVE)
#undef KILN_RESOLVE
  if (!missing.empty()) {
    g_status.reason = lib.path + " does not export " + missing;
    return;
  }
  // cudart versions are major * 1000 + minor * 10
  load_nvrtc(g_api.cudnnGetCudartVersion() / 1000);
  for (const char* name : {"libcudnn_engines_runtime_compiled.so.9", "libcudnn_adv.so.9"}) open_sub(name, false);
  // CUDNN_VERSION = major * 10000 + minor * 100 + patch (cuDNN 9)
  const size_t v = g_api.cudnnGetVersion();
  const size_t major = v / 10000;
  g_status.version = std::to_string(major) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  if (major != 9) {
    g_status.reason = lib.path + " is cuDNN " + g_status.version + "; Kiln's declarations (native/cuda/cudnn_api.h) describe cuDNN 9";
    return;
  }
  g_status.available = true;
}

void ensure_loaded() { std::call_once(g_lib.once, load); }

struct Handle {
  cudnnHandle_t h = nullptr;
  cudaStream_t stream = nullptr;
};
// This thread's handles, one per device, destroyed when the thread ends.
struct Handles {
  std::vector<Handle> per_device;
  ~Handles() {
    for (Handle& h : per_device)
      if (h.h) g_api.cudnnDestroy(h.h);
  }
};
thread_local Handles t_handles;

}  // namespace

LibraryStatus status() {
  ensure_loaded();
  return g_lib.report();
}

LibraryStatus nvrtc_status() {
  ensure_loaded();
  return g_nvrtc;
}

const Api* api() {
  ensure_loaded();
  return g_lib.usable();
}

void set_enabled(bool on) { g_lib.enabled = on; }
bool benchmark() { return g_benchmark; }
void set_benchmark(bool on) { g_benchmark = on; }
bool graph() { return g_graph; }
void set_graph(bool on) { g_graph = on; }

cudnnHandle_t handle(int device, cudaStream_t stream) {
  std::vector<Handle>& v = t_handles.per_device;
  if ((int)v.size() <= device) v.resize(device + 1);
  Handle& h = v[device];
  if (!h.h) {
    check(g_api.cudnnCreate(&h.h), "cuDNN", "cudnnCreate");
    h.stream = nullptr;
  }
  if (h.stream != stream || !h.stream) {
    check(g_api.cudnnSetStream(h.h, stream), "cuDNN", "cudnnSetStream");
    h.stream = stream;
  }
  return h.h;
}

void check(cudnnStatus_t s, const char* op, const char* call) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  const char* text = g_api.cudnnGetErrorString ? g_api.cudnnGetErrorString(s) : nullptr;
  std::string msg = std::string("cuDNN ") + call + " failed: " + (text ? text : "unknown status") + " (status " + std::to_string((int)s) + ")";
  bool oom = s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED || s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
  fail(oom ? ErrorKind::Memory : ErrorKind::Cuda, op, msg);
}

}}}  // namespace kiln::cuda::cudnn
