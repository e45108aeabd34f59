// The CUDA device addon: kernel table + launch (core/binding.cc) with a per-device stream and the
// device-error slot, the caching allocator, and host<->device copies. Device memory crosses to JS
// as its address (a number; addresses are below 2^48) and is freed through free() by the JS
// storage's dispose() or its FinalizationRegistry.
#include <napi.h>
#include <vector>
#include "../core/binding.h"
#include "allocator.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

std::vector<cudaStream_t> g_streams;
DeviceErrorSlot* g_error_slot = nullptr;   // host-mapped; the same address works on every device (UVA)
int g_current_device = -1;

int device_count_or_zero() {
  int n = 0;
  // Without a driver this returns an error (35: insufficient driver, 100: no device): "no CUDA".
  if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
  return n;
}

void select_device(int device) {
  if (device == g_current_device) return;
  int n = device_count_or_zero();
  if (device < 0 || device >= n)
    fail(ErrorKind::Device, "cuda", "device cuda:" + std::to_string(device) + " does not exist (" + std::to_string(n) + " CUDA devices)");
  KILN_CUDA_CHECK(cudaSetDevice(device), "cudaSetDevice");
  g_current_device = device;
}

cudaStream_t stream_for(int device) {
  select_device(device);
  if ((int)g_streams.size() <= device) g_streams.resize(device + 1, nullptr);
  if (!g_streams[device]) KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamNonBlocking), "cudaStreamCreate");
  if (!g_error_slot) {
    KILN_CUDA_CHECK(cudaHostAlloc((void**)&g_error_slot, sizeof(DeviceErrorSlot), cudaHostAllocMapped | cudaHostAllocPortable), "cudaHostAlloc");
    *g_error_slot = DeviceErrorSlot{};
  }
  return g_streams[device];
}

// Raises (once) an error a kernel reported since the last synchronisation.
void raise_device_error() {
  if (!g_error_slot || g_error_slot->kernel == 0) return;
  DeviceErrorSlot e = *g_error_slot;
  *g_error_slot = DeviceErrorSlot{};
  int id = (int)e.kernel - 1;
  std::string name = id < kernel_count() ? kernel_name(id) : "cuda kernel";
  auto num = [](double v) { std::string s = std::to_string(v); return s; };
  std::string value = e.is_float ? num(e.fvalue) : std::to_string(e.value);
  std::string range = e.is_float ? "[" + num(e.flo) + ", " + num(e.fhi) + "]" : "[" + std::to_string(e.lo) + ", " + std::to_string(e.hi) + "]";
  fail(ErrorKind::Value, name,
       kernel_input_name(id, (int)e.arg) + " holds the value " + value + ", outside the valid range " + range +
           " (found on the device, reported at the next synchronisation)");
}

void sync_device(int device) {
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)), "synchronize");
  raise_device_error();
}

// Kernel timing for the profiler (profileStart / profileStop): while on for a device, every launch
// on it is bracketed by a pair of CUDA events on the device's stream, recorded here inside launch
// (two more N-API calls per launch from JS would cost more than the event records themselves).
// Events are pooled: a device's pairs are reused by its next profile.
struct LaunchEvents { cudaEvent_t start = nullptr, end = nullptr; };
struct DeviceTimer {
  bool on = false;
  cudaEvent_t base = nullptr;        // the clock's zero, recorded when timing starts
  std::vector<LaunchEvents> pool;    // pairs [0, used) hold this profile's launches
  size_t used = 0;
  bool open = false;                 // pool[used] has its start recorded; its launch has not ended
};
std::vector<DeviceTimer> g_timers;
bool g_timing = false;               // any device on: the one check launches make otherwise

cudaEvent_t new_event() {
  cudaEvent_t e;
  KILN_CUDA_CHECK(cudaEventCreate(&e), "cudaEventCreate");
  return e;
}

DeviceTimer* timer_of(int device) {
  return g_timing && device < (int)g_timers.size() && g_timers[device].on ? &g_timers[device] : nullptr;
}

void before_launch(KernelCall& c) {
  c.stream = stream_for(c.device);
  c.error_slot = g_error_slot;
  if (DeviceTimer* t = timer_of(c.device)) {
    // a launch that threw left its pair open: this launch reuses it (JS recorded no event for it)
    if (t->used == t->pool.size()) t->pool.push_back({new_event(), new_event()});
    KILN_CUDA_CHECK(cudaEventRecord(t->pool[t->used].start, (cudaStream_t)c.stream), "profiler: cudaEventRecord");
    t->open = true;
  }
}

void after_launch(KernelCall& c) {
  if (DeviceTimer* t = timer_of(c.device)) {
    if (!t->open) return;
    KILN_CUDA_CHECK(cudaEventRecord(t->pool[t->used].end, (cudaStream_t)c.stream), "profiler: cudaEventRecord");
    t->open = false;
    ++t->used;
  }
}

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f();
  } catch (const KilnError& e) {
    to_js_error(info.Env(), e).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    to_js_error(info.Env(), ErrorKind::Internal, e.what()).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// V8 learns how much device memory the allocator holds, so garbage collection (which frees tensors
// dropped without dispose()) runs under device-memory pressure. Only reserve changes are reported:
// cache hits and frees into the cache cost nothing, and V8 is not nudged on every tensor.
void report_reserved_change(Napi::Env env, int64_t delta) {
  if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
}

int arg_int(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Number>().Int32Value(); }
void* arg_ptr(const Napi::CallbackInfo& info, int i) { return reinterpret_cast<void*>((uintptr_t)info[i].As<Napi::Number>().DoubleValue()); }
struct HostView { char* data; size_t bytes; };
HostView arg_view(const Napi::CallbackInfo& info, int i) {
  auto ta = info[i].As<Napi::TypedArray>();
  return {static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
}

Napi::Value DeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_count_or_zero()); }

Napi::Value DeviceProperties(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 0);
    select_device(d);
    cudaDeviceProp p;
    KILN_CUDA_CHECK(cudaGetDeviceProperties(&p, d), "cudaGetDeviceProperties");
    auto o = Napi::Object::New(info.Env());
    o.Set("name", p.name);
    o.Set("totalMemory", (double)p.totalGlobalMem);
    o.Set("multiProcessorCount", p.multiProcessorCount);
    o.Set("major", p.major);
    o.Set("minor", p.minor);
    o.Set("l2CacheSize", p.l2CacheSize);
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    o.Set("runtimeVersion", rt);
    o.Set("driverVersion", drv);
    return o;
  });
}

Napi::Value Malloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    double n = info[0].As<Napi::Number>().DoubleValue();
    int d = arg_int(info, 1);
    stream_for(d);
    int64_t reserved = memory_stats(d).reserved;
    void* p = device_alloc(d, (size_t)n);
    report_reserved_change(info.Env(), memory_stats(d).reserved - reserved);
    return Napi::Number::New(info.Env(), (double)(uintptr_t)p);
  });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    device_free(arg_int(info, 1), arg_ptr(info, 0));
    return info.Env().Undefined();
  });
}

// copyToDevice(ptr, device, view): from pageable memory cudaMemcpyAsync has staged the bytes when it
// returns, so the view may change afterwards.
Napi::Value CopyToDevice(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 1);
    HostView v = arg_view(info, 2);
    KILN_CUDA_CHECK(cudaMemcpyAsync(arg_ptr(info, 0), v.data, v.bytes, cudaMemcpyHostToDevice, stream_for(d)), "copy to device");
    return info.Env().Undefined();
  });
}

// copyToHost(ptr, device, view): waits for the stream, so the result is complete.
Napi::Value CopyToHost(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 1);
    HostView v = arg_view(info, 2);
    cudaStream_t s = stream_for(d);
    KILN_CUDA_CHECK(cudaMemcpyAsync(v.data, arg_ptr(info, 0), v.bytes, cudaMemcpyDeviceToHost, s), "copy to host");
    sync_device(d);
    return info.Env().Undefined();
  });
}

// copyToHostAsync(ptr, device, view) -> Promise: the wait happens on a worker thread.
class CopyWorker : public Napi::AsyncWorker {
 public:
  CopyWorker(Napi::Env env, void* src, int device, HostView dst, Napi::Object keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), src_(src), device_(device), dst_(dst) {
    keep_ = Napi::Persistent(keep);
    stream_ = stream_for(device);
  }
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    cudaSetDevice(device_);
    cudaError_t e = cudaMemcpyAsync(dst_.data, src_, dst_.bytes, cudaMemcpyDeviceToHost, stream_);
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) SetError(std::string("copy to host: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
  }
  void OnOK() override {
    try {
      raise_device_error();
      deferred_.Resolve(Env().Undefined());
    } catch (const KilnError& e) {
      deferred_.Reject(to_js_error(Env(), e).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(to_js_error(Env(), ErrorKind::Cuda, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  void* src_;
  int device_;
  HostView dst_;
  cudaStream_t stream_;
  Napi::ObjectReference keep_;
};

Napi::Value CopyToHostAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto* w = new CopyWorker(info.Env(), arg_ptr(info, 0), arg_int(info, 1), arg_view(info, 2), info[2].As<Napi::Object>());
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

// copyOnDevice(dst, src, nbytes, device)
Napi::Value CopyOnDevice(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 3);
    size_t n = (size_t)info[2].As<Napi::Number>().DoubleValue();
    KILN_CUDA_CHECK(cudaMemcpyAsync(arg_ptr(info, 0), arg_ptr(info, 1), n, cudaMemcpyDeviceToDevice, stream_for(d)), "copy on device");
    return info.Env().Undefined();
  });
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value { sync_device(arg_int(info, 0)); return info.Env().Undefined(); });
}

// Events for timing device work (as torch.cuda.Event): eventCreate() -> handle number,
// eventRecord(handle, device) on the device's stream, eventElapsed(start, end) in milliseconds
// (waits for `end`), eventDestroy(handle).
Napi::Value EventCreate(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    cudaEvent_t e;
    KILN_CUDA_CHECK(cudaEventCreate(&e), "cudaEventCreate");
    return Napi::Number::New(info.Env(), (double)(uintptr_t)e);
  });
}
Napi::Value EventRecord(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    cudaEvent_t e = (cudaEvent_t)arg_ptr(info, 0);
    KILN_CUDA_CHECK(cudaEventRecord(e, stream_for(arg_int(info, 1))), "cudaEventRecord");
    return info.Env().Undefined();
  });
}
Napi::Value EventElapsed(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    cudaEvent_t a = (cudaEvent_t)arg_ptr(info, 0), b = (cudaEvent_t)arg_ptr(info, 1);
    KILN_CUDA_CHECK(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    return Napi::Number::New(info.Env(), ms);
  });
}
Napi::Value EventDestroy(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    KILN_CUDA_CHECK(cudaEventDestroy((cudaEvent_t)arg_ptr(info, 0)), "cudaEventDestroy");
    return info.Env().Undefined();
  });
}

// profileStart(device): waits for the device's queued work, records the clock's zero and times
// every later launch on the device.
Napi::Value ProfileStart(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 0);
    sync_device(d);
    if ((int)g_timers.size() <= d) g_timers.resize(d + 1);
    DeviceTimer& t = g_timers[d];
    if (!t.base) t.base = new_event();
    KILN_CUDA_CHECK(cudaEventRecord(t.base, stream_for(d)), "profiler: cudaEventRecord");
    t.used = 0;
    t.open = false;
    t.on = true;
    g_timing = true;
    return info.Env().Undefined();
  });
}

// profileStop(device) -> Float64Array [start_0, end_0, start_1, end_1, ...]: milliseconds since
// profileStart of each launch timed on the device, in launch order (waits for the device).
Napi::Value ProfileStop(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 0);
    if (d < 0 || d >= (int)g_timers.size() || !g_timers[d].on) fail(ErrorKind::Internal, "profileStop", "device timing is not on for cuda:" + std::to_string(d));
    DeviceTimer& t = g_timers[d];
    t.on = false;
    g_timing = false;
    for (const DeviceTimer& other : g_timers) g_timing = g_timing || other.on;
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream_for(d)), "profiler: synchronize");
    auto out = Napi::Float64Array::New(info.Env(), 2 * t.used);
    for (size_t i = 0; i < t.used; ++i) {
      float a = 0, b = 0;
      KILN_CUDA_CHECK(cudaEventElapsedTime(&a, t.base, t.pool[i].start), "profiler: cudaEventElapsedTime");
      KILN_CUDA_CHECK(cudaEventElapsedTime(&b, t.base, t.pool[i].end), "profiler: cudaEventElapsedTime");
      out[2 * i] = a;
      out[2 * i + 1] = b;
    }
    t.used = 0;
    return out;
  });
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  MemoryStats s = memory_stats(arg_int(info, 0));
  auto o = Napi::Object::New(info.Env());
  o.Set("allocated", (double)s.allocated);
  o.Set("reserved", (double)s.reserved);
  o.Set("peakAllocated", (double)s.peak_allocated);
  o.Set("allocCount", (double)s.alloc_count);
  o.Set("cacheHits", (double)s.cache_hits);
  o.Set("numOoms", (double)s.num_ooms);
  return o;
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 0);
    int64_t reserved = memory_stats(d).reserved;
    empty_cache(d);
    report_reserved_change(info.Env(), memory_stats(d).reserved - reserved);
    return info.Env().Undefined();
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  DeviceHooks hooks;
  hooks.before_launch = before_launch;
  hooks.after_launch = after_launch;
  export_kernel_api(env, exports, hooks);
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount));
  exports.Set("deviceProperties", Napi::Function::New(env, DeviceProperties));
  exports.Set("malloc", Napi::Function::New(env, Malloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("copyToDevice", Napi::Function::New(env, CopyToDevice));
  exports.Set("copyToHost", Napi::Function::New(env, CopyToHost));
  exports.Set("copyToHostAsync", Napi::Function::New(env, CopyToHostAsync));
  exports.Set("copyOnDevice", Napi::Function::New(env, CopyOnDevice));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("memoryStats", Napi::Function::New(env, Stats));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache));
  exports.Set("eventCreate", Napi::Function::New(env, EventCreate));
  exports.Set("eventRecord", Napi::Function::New(env, EventRecord));
  exports.Set("eventElapsed", Napi::Function::New(env, EventElapsed));
  exports.Set("eventDestroy", Napi::Function::New(env, EventDestroy));
  exports.Set("profileStart", Napi::Function::New(env, ProfileStart));
  exports.Set("profileStop", Napi::Function::New(env, ProfileStop));
  return exports;
}

}  // namespace
}}  // namespace kiln::cuda

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kiln::cuda::Init(env, exports); }
NODE_API_MODULE(kiln_cuda, InitAddon)
