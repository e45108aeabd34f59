// What both device addons share: the kernel table exported to JS and the generic launch entry.
#pragma once
#include <napi.h>
#include "kiln/kernel.h"

namespace kiln {

// Device hooks around every launch (the CUDA addon selects the device and its stream, and points
// the call at the environment's error slot). `state` is the device addon's state for the JS
// environment (main thread or worker) that launches; the binding hands it back to each hook.
struct DeviceHooks {
  void (*before_launch)(KernelCall&, void* state) = nullptr;
  void (*after_launch)(KernelCall&, void* state) = nullptr;
  void* state = nullptr;
};

// Adds kernelNames(), setArgBuffer(f64), launch(id) to `exports`. Each JS environment that loads
// the addon (the main thread, every worker thread) calls it from its own Init, and gets its own
// argument buffer and KernelCall: threads never share the state of a call.
void export_kernel_api(Napi::Env env, Napi::Object exports, DeviceHooks hooks);

// `err` as a JS Error whose `kind` property names its ErrorKind and whose `op`, `argument`,
// `expected` and `got` properties are the facts it knows.
Napi::Error to_js_error(Napi::Env env, const KilnError& err);
Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& msg);

// An allocator's figures as JS reads them (MemoryStats in packages/tensor/src/device.ts), from any
// of the allocators' stats structs, which share these five fields.
template <typename Stats>
Napi::Object memory_stats_to_js(Napi::Env env, const Stats& s) {
  auto o = Napi::Object::New(env);
  o.Set("allocated", (double)s.allocated);
  o.Set("reserved", (double)s.reserved);
  o.Set("peakAllocated", (double)s.peak_allocated);
  o.Set("allocCount", (double)s.alloc_count);
  o.Set("cacheHits", (double)s.cache_hits);
  return o;
}

// V8 learns how much memory an allocator holds (so that garbage collection, which frees tensors
// dropped without dispose(), runs under memory pressure), on changes of the reserve only: cache hits
// and frees into the cache cost nothing, and V8 is not nudged on every tensor.
inline void report_reserved_change(Napi::Env env, int64_t delta) {
  if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
}

// Runs an addon function's body, turning what it throws into a pending JS exception (a typed
// error for a KilnError, an InternalError for anything else).
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f();
  } catch (const KilnError& e) { to_js_error(info.Env(), e).ThrowAsJavaScriptException(); } catch (const std::exception& e) {
    to_js_error(info.Env(), ErrorKind::Internal, e.what()).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

}  // namespace kiln
