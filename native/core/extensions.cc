#include "extensions.h"
#include <dlfcn.h>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include "binding.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace kiln {

// An extension kernel sees Kiln's TensorArg records through the C struct kiln_tensor, without a
// copy: the two must have the same layout. If TensorArg changes, run_extension_kernel must convert
// (the ABI's struct never changes within a version).
static_assert(std::is_standard_layout<TensorArg>::value, "TensorArg is read through kiln_tensor");
static_assert(sizeof(TensorArg) == sizeof(kiln_tensor), "TensorArg and kiln_tensor differ in size");
static_assert(offsetof(TensorArg, data) == offsetof(kiln_tensor, data), "TensorArg.data");
static_assert(offsetof(TensorArg, dtype) == offsetof(kiln_tensor, dtype) && sizeof(DType) == sizeof(int32_t), "TensorArg.dtype");
static_assert(offsetof(TensorArg, ndim) == offsetof(kiln_tensor, ndim), "TensorArg.ndim");
static_assert(offsetof(TensorArg, numel) == offsetof(kiln_tensor, numel), "TensorArg.numel");
static_assert(offsetof(TensorArg, shape) == offsetof(kiln_tensor, shape), "TensorArg.shape");
static_assert(offsetof(TensorArg, strides) == offsetof(kiln_tensor, strides), "TensorArg.strides");
static_assert(kMaxDims == KILN_MAX_DIMS, "KILN_MAX_DIMS");
static_assert((int)DType::Float32 == KILN_FLOAT32 && (int)DType::Float64 == KILN_FLOAT64 && (int)DType::Int32 == KILN_INT32 &&
                  (int)DType::Int64 == KILN_INT64 && (int)DType::Bool == KILN_BOOL && (int)DType::Float16 == KILN_FLOAT16 &&
                  (int)DType::BFloat16 == KILN_BFLOAT16,
              "dtype codes");
static_assert((int)ErrorKind::Shape == KILN_ERROR_SHAPE && (int)ErrorKind::DType == KILN_ERROR_DTYPE && (int)ErrorKind::Device == KILN_ERROR_DEVICE &&
                  (int)ErrorKind::Value == KILN_ERROR_VALUE && (int)ErrorKind::Cuda == KILN_ERROR_CUDA && (int)ErrorKind::Memory == KILN_ERROR_MEMORY &&
                  (int)ErrorKind::Internal == KILN_ERROR_INTERNAL,
              "error kinds");

}  // namespace kiln

// The opaque types of the ABI, defined on Kiln's side.
struct kiln_call_state {
  bool failed = false;
  kiln::ErrorKind kind = kiln::ErrorKind::Internal;
  std::string argument, expected, got, message;
};

struct kiln_registration {
  struct Offer {
    int32_t device_type;
    std::string name, inputs;
    kiln_kernel_fn fn;
  };
  std::vector<Offer> offers;
};

namespace kiln {
namespace {

ExtensionDevice g_device;
kiln_api g_api;

const char* device_type_name(int32_t t) { return t == KILN_DEVICE_CPU ? "cpu" : t == KILN_DEVICE_CUDA ? "cuda" : "an unknown device"; }

// ---- the api table's functions (called by extension code: none may throw) -------------------

int api_register_kernel(kiln_registration* r, int32_t device_type, const char* name, kiln_kernel_fn fn, const char* inputs) {
  if (r == nullptr || name == nullptr || fn == nullptr) return 1;
  try {
    r->offers.push_back({device_type, name, inputs ? inputs : "", fn});
    return 0;
  } catch (...) { return 1; }
}

void api_set_error(const kiln_call* call, const kiln_error* e) {
  if (call == nullptr || call->state == nullptr) return;
  kiln_call_state& s = *call->state;
  if (s.failed) return;   // the first error is the cause; later ones are consequences
  s.failed = true;
  if (e == nullptr) return;
  s.kind = e->kind >= KILN_ERROR_SHAPE && e->kind <= KILN_ERROR_INTERNAL ? (ErrorKind)e->kind : ErrorKind::Internal;
  try {
    if (e->argument) s.argument = e->argument;
    if (e->expected) s.expected = e->expected;
    if (e->got) s.got = e->got;
    if (e->message) s.message = e->message;
  } catch (...) {
    s.kind = ErrorKind::Memory;   // no memory left even for the message
  }
}

void* api_workspace_alloc(const kiln_call* call, size_t bytes) { return call ? g_device.workspace_alloc(call->device_index, bytes) : nullptr; }

void api_workspace_free(const kiln_call* call, void* ptr, size_t bytes) {
  if (call && ptr) g_device.workspace_free(call->device_index, ptr, bytes);
}

void api_parallel_for(int64_t n, int64_t grain, kiln_range_fn body, void* context) {
  if (n > 0 && body) g_device.parallel_for(n, grain < 1 ? 1 : grain, body, context);
}

// ---- launching an extension kernel -----------------------------------------------------------

std::string error_message(const KernelCall& c, const kiln_call_state& s) {
  if (!s.message.empty()) return s.message;
  std::string who = s.argument.empty() ? "" : "argument '" + s.argument + "' ";
  if (!s.expected.empty()) return std::string(c.name) + ": " + who + "expected " + s.expected + ", got " + s.got;
  return std::string(c.name) + ": " + (s.argument.empty() ? "failed" : who + "is invalid") + " (the extension kernel gave no message)";
}

// The KernelFn of every extension kernel: hands the call to the extension's C function as a
// kiln_call and raises what it reported. The tensors were checked against their storage by
// decode_call, as for Kiln's own kernels.
void run_extension_kernel(KernelCall& c) {
  kiln_call_state state;
  kiln_call call;
  call.name = c.name;
  call.api = &g_api;
  call.state = &state;
  call.kernel_id = c.id;
  call.device_type = g_device.device_type;
  call.device_index = c.device;
  call.n_inputs = c.n_inputs;
  call.n_outputs = c.n_outputs;
  call.n_attrs = c.n_attrs;
  // same layout (the static_asserts above); the extension only reads through these
  call.inputs = reinterpret_cast<const kiln_tensor*>(c.inputs);
  call.outputs = reinterpret_cast<const kiln_tensor*>(c.outputs);
  call.attrs = c.attrs;
  call.stream = c.stream;
  call.device_error = static_cast<kiln_device_error*>(c.error_slot);
  int rc = kernel_extension_fn(c.id)(&call);
  // the facts the extension reported (kiln_error's argument / expected / got), the op its name
  if (state.failed) throw KilnError(state.kind, error_message(c, state), {c.name, state.argument, state.expected, state.got});
  if (rc != 0) {
    fail(ErrorKind::Internal, c.name,
         "the extension kernel failed (it returned " + std::to_string(rc) + ") without reporting an error; its library: " + kernel_owner(c.id));
  }
}

// ---- loading ---------------------------------------------------------------------------------

// An error of kind 'extension' (ExtensionError in JS): the library cannot be used as it is.
struct LoadError {
  std::string message;
};

struct Loaded {
  std::vector<std::pair<std::string, int>> kernels;      // registered on this device: name, id
  std::vector<std::pair<int32_t, std::string>> offered;  // every kernel offered: device type, name
};

std::mutex g_load_mutex;
// Loaded libraries by real path, and the strings the kernel table points to: never freed, as the
// libraries are never unloaded (their kernels may be launched until the process ends).
std::map<std::string, Loaded>& loaded() {
  static auto* m = new std::map<std::string, Loaded>();
  return *m;
}
const char* keep_string(const std::string& s) {
  static auto* kept = new std::deque<std::string>();
  kept->push_back(s);
  return kept->back().c_str();
}

bool valid_op_name(const std::string& n) {
  if (n.empty() || n.size() > 128 || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  for (char ch : n)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

const char* kRebuild = "rebuild it against the installed Kiln (`npx kiln-build-extension` in the extension's package folder)";

// Checks the offers of a library for this device and appends them to the kernel table, all or
// none: a name that is invalid, offered twice, or already in the table refuses the library.
Loaded commit_offers(const std::string& path, const kiln_registration& reg) {
  Loaded out;
  std::vector<const kiln_registration::Offer*> mine;
  for (const auto& o : reg.offers) {
    out.offered.emplace_back(o.device_type, o.name);
    if (!valid_op_name(o.name))
      throw LoadError{path + " offers a kernel named '" + o.name + "': op names are snake_case ([a-z][a-z0-9_]*, at most 128 characters)"};
    if (o.device_type != KILN_DEVICE_CPU && o.device_type != KILN_DEVICE_CUDA)
      throw LoadError{path + " offers kernel '" + o.name + "' for device type " + std::to_string(o.device_type) + ", which Kiln does not know"};
    if (o.device_type != g_device.device_type) continue;
    for (const auto* m : mine)
      if (m->name == o.name) throw LoadError{path + " offers two " + device_type_name(o.device_type) + " kernels named '" + o.name + "'"};
    int other = find_kernel(o.name.c_str());
    if (other >= 0) {
      const char* owner = kernel_owner(other);
      throw LoadError{path + " offers a " + device_type_name(o.device_type) + " kernel named '" + o.name + "', which " +
                      (owner ? std::string("the extension ") + owner + " already registered" : std::string("is one of Kiln's own kernels")) +
                      ": rename the extension's op"};
    }
    mine.push_back(&o);
  }
  if (kernel_count() + (int)mine.size() > kMaxKernels) throw LoadError{path + ": the kernel table is full (" + std::to_string(kMaxKernels) + " kernels)"};
  const char* owner = keep_string(path);
  for (const auto* o : mine) {
    int id = add_kernel(keep_string(o->name), run_extension_kernel, o->inputs.empty() ? nullptr : keep_string(o->inputs), o->fn, owner);
    out.kernels.emplace_back(o->name, id);
  }
  return out;
}

// Opens the library, checks its ABI and registers its kernels for this device (once per process).
const Loaded& load(const std::string& requested) {
  char resolved[PATH_MAX];
  if (realpath(requested.c_str(), resolved) == nullptr) throw LoadError{"cannot find the extension library " + requested};
  const std::string path(resolved);
  auto hit = loaded().find(path);
  if (hit != loaded().end()) return hit->second;

  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    throw LoadError{"cannot load the extension library " + path + ": " + (why ? why : "unknown error")};
  }
  try {
    using VersionFn = uint32_t (*)();
    using RegisterFn = int (*)(const kiln_api*, kiln_registration*);
    auto version_fn = reinterpret_cast<VersionFn>(dlsym(handle, "kiln_extension_abi_version"));
    auto register_fn = reinterpret_cast<RegisterFn>(dlsym(handle, "kiln_extension_register"));
    if (version_fn == nullptr || register_fn == nullptr) {
      throw LoadError{path +
                      " is not a Kiln extension: it does not export kiln_extension_abi_version and kiln_extension_register "
                      "(build it with kiln_add_extension from Kiln's CMake package, or add kiln/extension/entry.cc to it)"};
    }
    uint32_t v = version_fn();
    if (v != KILN_EXTENSION_ABI_VERSION) {
      std::string built = "extension ABI version " + std::to_string(v);
      std::string ours = "this Kiln (" + std::string(KILN_VERSION) + ") has version " + std::to_string(KILN_EXTENSION_ABI_VERSION);
      throw LoadError{v < KILN_EXTENSION_ABI_VERSION ? path + " was built against an older Kiln (" + built + "; " + ours + "): " + kRebuild
                                                     : path + " was built against a later Kiln (" + built + "; " + ours +
                                                           "): upgrade Kiln to the release it was built against, or " + kRebuild};
    }
    kiln_registration reg;
    int rc = register_fn(&g_api, &reg);
    if (rc == KILN_REGISTER_NEEDS_NEWER_KILN) {
      throw LoadError{path + " was built against a later Kiln release (its extension API table is larger than the one this Kiln (" + std::string(KILN_VERSION) +
                      ") provides): upgrade Kiln, or " + kRebuild};
    }
    if (rc != 0) throw LoadError{path + ": its kiln_extension_register failed (returned " + std::to_string(rc) + ")"};
    Loaded result = commit_offers(path, reg);
    return loaded().emplace(path, std::move(result)).first->second;
  } catch (...) {
    dlclose(handle);   // nothing of it was registered; a fixed rebuild at the same path can load
    throw;
  }
}

Napi::Error extension_error(Napi::Env env, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("kind", Napi::String::New(env, "extension"));
  err.Set("op", Napi::String::New(env, "loadExtension"));   // the error's one fact (ExtensionError's op)
  return err;
}

Napi::Value to_js(Napi::Env env, const std::string& s) { return Napi::String::New(env, s); }
Napi::Value to_js(Napi::Env env, int v) { return Napi::Number::New(env, v); }

// [[first, second], ...] as a JS array of two-element arrays.
template <typename A, typename B> Napi::Array pairs_to_js(Napi::Env env, const std::vector<std::pair<A, B>>& pairs) {
  auto out = Napi::Array::New(env, pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    auto pair = Napi::Array::New(env, 2);
    pair.Set(0u, to_js(env, pairs[i].first));
    pair.Set(1u, to_js(env, pairs[i].second));
    out.Set((uint32_t)i, pair);
  }
  return out;
}

// loadExtension(path) -> { kernels: [name, id][], offered: [deviceType, name][] }
Napi::Value LoadExtension(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    extension_error(env, "loadExtension: expected the path of an extension library (a string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  try {
    std::lock_guard<std::mutex> lock(g_load_mutex);
    const Loaded& l = load(info[0].As<Napi::String>().Utf8Value());
    auto kernels = pairs_to_js(env, l.kernels);
    auto offered = pairs_to_js(env, l.offered);
    auto result = Napi::Object::New(env);
    result.Set("kernels", kernels);
    result.Set("offered", offered);
    return result;
  } catch (const LoadError& e) { extension_error(env, e.message).ThrowAsJavaScriptException(); } catch (const std::exception& e) {
    to_js_error(env, ErrorKind::Internal, std::string("loadExtension: ") + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace

void export_extension_loader(Napi::Env env, Napi::Object exports, const ExtensionDevice& device) {
  // once per process: every environment (the main thread, each worker) of this addon shares the
  // table, and kernels running on other threads read it
  static std::once_flag once;
  std::call_once(once, [&device]() {
    g_device = device;
    g_api = kiln_api{};
    g_api.abi_version = KILN_EXTENSION_ABI_VERSION;
    g_api.size = sizeof(kiln_api);
    g_api.device_type = device.device_type;
    g_api.kiln_version = KILN_VERSION;
    g_api.register_kernel = api_register_kernel;
    g_api.set_error = api_set_error;
    g_api.workspace_alloc = api_workspace_alloc;
    g_api.workspace_free = api_workspace_free;
    g_api.parallel_for = api_parallel_for;
  });
  exports.Set("loadExtension", Napi::Function::New(env, LoadExtension, "loadExtension"));
  exports.Set("extensionAbiVersion", Napi::Number::New(env, KILN_EXTENSION_ABI_VERSION));
}

}  // namespace kiln
