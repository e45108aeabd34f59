// The CPU device addon: kernel table + launch (core/binding.cc), and storage backed by the caching
// allocator. Storage is handed to JS as an external ArrayBuffer, so TypedArrays and ndarrays view
// it without copies; dispose() detaches the buffer (every JS view becomes empty, never dangling)
// and returns the block to the cache at once; otherwise the GC's finalizer returns it.
#include <napi.h>
#include <unordered_map>
#include "../core/binding.h"
#include "allocator.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiln { namespace cpu {
namespace {

struct Block {
  void* ptr;
  size_t rounded;
  bool returned;
};
std::unordered_map<void*, Block*> g_live;   // blocks still owned by an ArrayBuffer

void return_block(Napi::Env, Block* b) {
  if (b->returned) return;
  b->returned = true;
  g_live.erase(b->ptr);
  release(b->ptr, b->rounded);
}

// V8 learns how much memory the allocator holds (so garbage collection runs under pressure), on
// reserve changes only: cache hits and returns to the cache do not nudge it on every tensor.
void report_reserved_change(Napi::Env env, int64_t delta) {
  if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
}

void finalize_block(Napi::Env env, void* /*data*/, Block* b) {
  return_block(env, b);
  delete b;
}

// alloc(nbytes) -> ArrayBuffer of exactly nbytes over a cached block.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0) || n > 9.0e15) {
    to_js_error(env, ErrorKind::Value, "cpu alloc: invalid size " + std::to_string(n)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t rounded = 0;
  void* p = nullptr;
  int64_t reserved = stats().reserved;
  try {
    p = allocate((size_t)n, &rounded);
  } catch (const std::bad_alloc&) {
    to_js_error(env, ErrorKind::Memory, "cpu: out of memory allocating " + std::to_string((size_t)n) + " bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Block* b = new Block{p, rounded, false};
  g_live[p] = b;
  report_reserved_change(env, stats().reserved - reserved);
  return Napi::ArrayBuffer::New(env, p, (size_t)n, finalize_block, b);
}

// release(buffer): returns an alloc()ed buffer's block now and detaches the buffer.
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return env.Undefined();
  void* p = ab.Data();
  auto it = g_live.find(p);
  if (it != g_live.end()) return_block(env, it->second);
  ab.Detach();   // the finalizer may run now or later; the block is already marked returned
  return env.Undefined();
}

// address(buffer | view) -> the address of its first byte, as a number (exact: < 2^53).
Napi::Value Address(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* p = nullptr;
  if (info[0].IsArrayBuffer()) p = info[0].As<Napi::ArrayBuffer>().Data();
  else if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    p = static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  } else {
    to_js_error(env, ErrorKind::Internal, "address: expected an ArrayBuffer or TypedArray").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)(uintptr_t)p);
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  MemoryStats s = stats();
  auto o = Napi::Object::New(info.Env());
  o.Set("allocated", (double)s.allocated);
  o.Set("reserved", (double)s.reserved);
  o.Set("peakAllocated", (double)s.peak_allocated);
  o.Set("allocCount", (double)s.alloc_count);
  o.Set("cacheHits", (double)s.cache_hits);
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  int64_t reserved = stats().reserved;
  empty_cache();
  report_reserved_change(info.Env(), stats().reserved - reserved);
  return info.Env().Undefined();
}

// The allocator's block size for a request of n bytes (its size classes; the JS cache of small
// buffers, packages/tensor/src/native/small-buffer-cache.ts, files buffers by them).
Napi::Value BlockSize(const Napi::CallbackInfo& info) {
  double n = info[0].As<Napi::Number>().DoubleValue();
  return Napi::Number::New(info.Env(), (double)round_size(n > 0 ? (size_t)n : 0));
}

Napi::Value NumThreads(const Napi::CallbackInfo& info) {
#ifdef _OPENMP
  if (info.Length() > 0 && info[0].IsNumber()) omp_set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(info.Env(), omp_get_max_threads());
#else
  return Napi::Number::New(info.Env(), 1);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  export_kernel_api(env, exports, DeviceHooks{});
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("address", Napi::Function::New(env, Address));
  exports.Set("memoryStats", Napi::Function::New(env, Stats));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("numThreads", Napi::Function::New(env, NumThreads));
  exports.Set("blockSize", Napi::Function::New(env, BlockSize));
  return exports;
}

}  // namespace
}}  // namespace kiln::cpu

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kiln::cpu::Init(env, exports); }
NODE_API_MODULE(kiln_cpu, InitAddon)
