// The CPU device addon: kernel table + launch (core/binding.cc), and storage backed by the caching
// allocator. Storage is handed to JS as an external ArrayBuffer, so TypedArrays and ndarrays view
// it without copies; dispose() detaches the buffer (every JS view becomes empty, never dangling)
// and returns the block to the cache at once. A buffer dropped without dispose() goes back as soon
// as a garbage collection has taken it (core/weak_owners.h), without waiting for its finalizer,
// which Node runs only when the event loop turns.
//
// Worker threads load the addon too: each JS environment has its own kernel-call state (the
// binding's), blocks are identified by their lease record (never by address alone, which the cache
// reuses: core/buffer_leases.h), and the allocator behind them is shared under its lock.
#include <napi.h>
#include "../core/binding.h"
#include "../core/buffer_leases.h"
#include "../core/extensions.h"
#include "../core/weak_owners.h"
#include "allocator.h"
#include "gemm_kernels.h"
#include "parallel.h"

namespace kiln { namespace cpu { namespace {

// Every CPU storage's buffer is lent from here (core/buffer_leases.h: returned exactly once).
BufferLeases g_leases(release);

// A request size from JS: a whole number of bytes the allocator can consider, else a typed error.
bool request_size(Napi::Env env, const Napi::Value& v, const char* what, size_t* out) {
  double n = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0) || n != (double)(int64_t)n || n > (double)kMaxAllocation) {
    to_js_error(env, n > (double)kMaxAllocation ? ErrorKind::Memory : ErrorKind::Value,
                std::string(what) + ": cannot allocate " + std::to_string(n) + " bytes (at most 2^46 bytes per tensor)")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = (size_t)n;
  return true;
}

// alloc(nbytes) -> ArrayBuffer of exactly nbytes over a cached block.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t n = 0;
  if (!request_size(env, info[0], "cpu alloc", &n)) return env.Undefined();
  if (n > kMaxLentBytes) {
    to_js_error(env, ErrorKind::Memory,
                "cpu alloc: cannot allocate " + std::to_string(n) + " bytes: a CPU tensor is at most 2^32 bytes (4 GiB), the largest buffer Node.js 20 makes")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // After a collection, blocks whose buffers it took go back first (and may serve this request).
  if (collected_since_last_check(env)) sweep_collected(env);
  size_t rounded = 0;
  void* p = nullptr;
  int64_t reserved = stats().reserved;
  try {
    p = allocate(n, &rounded);
  } catch (const std::bad_alloc&) {
    to_js_error(env, ErrorKind::Memory, "cpu: out of memory allocating " + std::to_string(n) + " bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  report_reserved_change(env, stats().reserved - reserved);
  return g_leases.lend(env, p, rounded, n);
}

// release(buffer): returns an alloc()ed buffer's block now and detaches the buffer.
Napi::Value Release(const Napi::CallbackInfo& info) {
  if (info[0].IsArrayBuffer()) g_leases.release(info[0].As<Napi::ArrayBuffer>());
  return info.Env().Undefined();
}

// address(buffer | view) -> the address of its first byte, as a number (exact: < 2^53).
Napi::Value Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* p = nullptr;
  if (info[0].IsArrayBuffer()) p = info[0].As<Napi::ArrayBuffer>().Data();
  else if (info[0].IsTypedArray()) {
    // the view's data pointer, not its ArrayBuffer(): Node-API has no ArrayBuffer for a view of a
    // SharedArrayBuffer (fromTypedArray over shared memory passes such a view)
    void* data = nullptr;
    if (napi_get_typedarray_info(env, info[0], nullptr, nullptr, &data, nullptr, nullptr) != napi_ok) {
      to_js_error(env, ErrorKind::Internal, "address: cannot read the typed array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    p = data;
  } else {
    to_js_error(env, ErrorKind::Internal, "address: expected an ArrayBuffer or TypedArray").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)(uintptr_t)p);
}

Napi::Value Stats(const Napi::CallbackInfo& info) { return memory_stats_to_js(info.Env(), stats()); }

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  int64_t reserved = stats().reserved;
  empty_cache();
  report_reserved_change(info.Env(), stats().reserved - reserved);
  return info.Env().Undefined();
}

// The allocator's block size for a request of n bytes (its size classes; the JS cache of small
// buffers, packages/tensor/src/native/small-buffer-cache.ts, files buffers by them).
Napi::Value BlockSize(const Napi::CallbackInfo& info) {
  size_t n = 0;
  if (!request_size(info.Env(), info[0], "cpu blockSize", &n)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), (double)round_size(n));
}

// numThreads(n?) -> the CPU kernels' thread count, after setting it to n (an integer >= 1; the
// TypeScript caller checks it too, packages/tensor/src/native/cpu-backend.ts).
Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) {
    int n = info[0].As<Napi::Number>().Int32Value();
    if (n < 1) {
      to_js_error(info.Env(), ErrorKind::Value, "cpuThreads: expected a positive number of threads, got " + std::to_string(n)).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    set_num_threads(n);
  }
  return Napi::Number::New(info.Env(), num_threads());
}

// cpuInfo() -> { threads, isa, gemm }: what the CPU kernels run on (the instruction set chosen at
// run time and the GEMM micro-kernels it selects).
Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("threads", num_threads());
  o.Set("isa", isa_name(cpu_isa()));
  o.Set("gemm", gemm_kernels().name);
  return o;
}

// capIsa(name) caps the instruction set of the CPU kernels at name (baseline, avx2 or avx512) and
// returns the one now in use: the tests run every GEMM micro-kernel set the processor supports.
Napi::Value CapIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Isa isa;
  if (info.Length() < 1 || !info[0].IsString() || !parse_isa(info[0].As<Napi::String>().Utf8Value().c_str(), &isa)) {
    to_js_error(env, ErrorKind::Value, "capIsa: argument 'isa' expected baseline, avx2 or avx512").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  cap_isa(isa);
  return Napi::String::New(env, isa_name(cpu_isa()));
}

// What extensions get from the CPU device: workspace from the caching allocator, the thread pool.
void* extension_alloc(int, size_t bytes) {
  try {
    size_t rounded = 0;
    return allocate(bytes, &rounded);
  } catch (...) { return nullptr; }
}
void extension_free(int, void* ptr, size_t bytes) { release(ptr, round_size(bytes)); }
void extension_parallel_for(int64_t n, int64_t grain, kiln_range_fn body, void* context) {
  parallel_for(n, grain, [body, context](int64_t b, int64_t e) { body(context, b, e); });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  export_kernel_api(env, exports, DeviceHooks{});
  export_extension_loader(env, exports, ExtensionDevice{KILN_DEVICE_CPU, extension_alloc, extension_free, extension_parallel_for});
  export_sweep(env, exports);
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("address", Napi::Function::New(env, Address));
  exports.Set("memoryStats", Napi::Function::New(env, Stats));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("capIsa", Napi::Function::New(env, CapIsa));
  exports.Set("blockSize", Napi::Function::New(env, BlockSize));
  return exports;
}

}  // namespace
}}  // namespace kiln::cpu

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kiln::cpu::Init(env, exports); }
NODE_API_MODULE(kiln_cpu, InitAddon)
