// The CUDA device addon: kernel table + launch (core/binding.cc) with a per-device stream and the
// device-error slot, the caching allocator, and host<->device copies. Device memory crosses to JS
// as its address (a number; addresses are below 2^48) and is freed through free() by the JS
// storage's dispose(), or, for a storage dropped without dispose(), as soon as a garbage collection
// has taken it (core/weak_owners.h).
//
// Threads: every JS environment (the main thread, each worker thread) that loads the addon has its
// own state (EnvState: its error slot), the CUDA runtime's current device is per OS thread, and the
// per-device streams are created once for the process, under a lock. Work from several threads goes
// to the same stream of a device, in the order it is queued, so a block freed by one thread and
// reused by another is never overwritten while queued work still reads it.
#include <napi.h>
#include <mutex>
#include <vector>
#include "../core/binding.h"
#include "../core/extensions.h"
#include "../core/weak_owners.h"
#include "allocator.h"
#include "libraries_binding.h"
#include "nccl_binding.h"
#include "pinned_binding.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

std::mutex g_streams_mutex;
std::vector<cudaStream_t> g_streams;
thread_local int t_current_device = -1;   // the CUDA runtime's current device is per thread

// Kernel timing for the profiler (profileStart / profileStop): while on for a device, every launch
// on it is bracketed by a pair of CUDA events on the device's stream, recorded here inside launch
// (two more N-API calls per launch from JS would cost more than the event records themselves).
// Events are pooled: a device's pairs are reused by its next profile. Each JS environment profiles
// its own launches (the timers live in its EnvState).
struct LaunchEvents {
  cudaEvent_t start = nullptr, end = nullptr;
};
struct DeviceTimer {
  bool on = false;
  cudaEvent_t base = nullptr;        // the clock's zero, recorded when timing starts
  std::vector<LaunchEvents> pool;    // pairs [0, used) hold this profile's launches
  size_t used = 0;
  bool open = false;                 // pool[used] has its start recorded; its launch has not ended
};

// What one JS environment owns: the slot its kernels report device-side errors to (host-mapped; the
// same address works on every device through UVA), so an error is raised in the environment whose
// kernel found it, and its profiler's timers.
struct EnvState {
  DeviceErrorSlot* error_slot = nullptr;
  std::vector<DeviceTimer> timers;   // the profiler's, per device
  bool timing = false;               // any device on: the one check launches make otherwise
};

int device_count_or_zero() {
  int n = 0;
  // Without a driver this returns an error (35: insufficient driver, 100: no device): "no CUDA".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void select_device(int device) {
  if (device == t_current_device) return;
  int n = device_count_or_zero();
  if (device < 0 || device >= n)
    fail(ErrorKind::Device, "cuda", "device cuda:" + std::to_string(device) + " does not exist (" + std::to_string(n) + " CUDA devices)");
  KILN_CUDA_CHECK(cudaSetDevice(device), "cudaSetDevice");
  t_current_device = device;
}

cudaStream_t stream_for(int device) {
  select_device(device);
  std::lock_guard<std::mutex> lock(g_streams_mutex);
  if ((int)g_streams.size() <= device) g_streams.resize(device + 1, nullptr);
  if (!g_streams[device]) KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[device], cudaStreamNonBlocking), "cudaStreamCreate");
  return g_streams[device];
}

DeviceErrorSlot* error_slot_for(EnvState& s) {
  if (!s.error_slot) {
    KILN_CUDA_CHECK(cudaHostAlloc((void**)&s.error_slot, sizeof(DeviceErrorSlot), cudaHostAllocMapped | cudaHostAllocPortable), "cudaHostAlloc");
    *s.error_slot = DeviceErrorSlot{};
  }
  return s.error_slot;
}

// Raises (once) an error a kernel reported since the last synchronisation.
void raise_device_error(EnvState& s) {
  DeviceErrorSlot* slot = s.error_slot;
  if (!slot || slot->kernel == 0) return;
  DeviceErrorSlot e = *slot;
  *slot = DeviceErrorSlot{};
  int id = (int)e.kernel - 1;
  std::string name = id < kernel_count() ? kernel_name(id) : "cuda kernel";
  std::string value = e.is_float ? std::to_string(e.fvalue) : std::to_string(e.value);
  std::string expected = kernel_error_expected(id, e);
  fail(ErrorKind::Value, {name, kernel_input_arg(id, (int)e.arg), expected, value},
       kernel_input_name(id, (int)e.arg) + " holds the value " + value + "; expected " + expected +
           " (found on the device, reported at the next synchronisation)");
}

void sync_device(EnvState& s, int device) {
  KILN_CUDA_CHECK(cudaStreamSynchronize(stream_for(device)), "synchronize");
  raise_device_error(s);
}

cudaEvent_t new_event() {
  cudaEvent_t e;
  KILN_CUDA_CHECK(cudaEventCreate(&e), "cudaEventCreate");
  return e;
}

DeviceTimer* timer_of(EnvState& s, int device) { return s.timing && device < (int)s.timers.size() && s.timers[device].on ? &s.timers[device] : nullptr; }

void before_launch(KernelCall& c, void* state) {
  c.stream = stream_for(c.device);
  c.error_slot = error_slot_for(*static_cast<EnvState*>(state));
  if (DeviceTimer* t = timer_of(*static_cast<EnvState*>(state), c.device)) {
    // a launch that threw left its pair open: this launch reuses it (JS recorded no event for it)
    if (t->used == t->pool.size()) t->pool.push_back({new_event(), new_event()});
    KILN_CUDA_CHECK(cudaEventRecord(t->pool[t->used].start, (cudaStream_t)c.stream), "profiler: cudaEventRecord");
    t->open = true;
  }
}

void after_launch(KernelCall& c, void* state) {
  if (DeviceTimer* t = timer_of(*static_cast<EnvState*>(state), c.device)) {
    if (!t->open) return;
    KILN_CUDA_CHECK(cudaEventRecord(t->pool[t->used].end, (cudaStream_t)c.stream), "profiler: cudaEventRecord");
    t->open = false;
    ++t->used;
  }
}

EnvState& env_state(const Napi::CallbackInfo& info) { return *static_cast<EnvState*>(info.Data()); }

int arg_int(const Napi::CallbackInfo& info, int i) { return info[i].As<Napi::Number>().Int32Value(); }
void* arg_ptr(const Napi::CallbackInfo& info, int i) { return reinterpret_cast<void*>((uintptr_t)info[i].As<Napi::Number>().DoubleValue()); }
struct HostView {
  char* data;
  size_t bytes;
};
HostView arg_view(const Napi::CallbackInfo& info, int i) {
  auto ta = info[i].As<Napi::TypedArray>();
  return {static_cast<char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), ta.ByteLength()};
}

Napi::Value DeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_count_or_zero()); }

// What @kiln/cuda needs to say why there is no CUDA device: the count, cudaGetDeviceCount's error
// (name and text, empty on success), the runtime version linked in and the driver's (0 when no
// driver is installed: cudaDriverGetVersion succeeds then).
Napi::Value DeviceStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = 0, runtime = 0, driver = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  cudaGetLastError();
  if (err != cudaSuccess) n = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  auto o = Napi::Object::New(env);
  o.Set("count", n);
  o.Set("error", err == cudaSuccess ? "" : cudaGetErrorName(err));
  o.Set("errorText", err == cudaSuccess ? "" : cudaGetErrorString(err));
  o.Set("runtimeVersion", runtime);
  o.Set("driverVersion", driver);
  return o;
}

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

void release_collected(void* ptr, intptr_t device) {
  try {
    device_free((int)device, ptr);
  } catch (const KilnError&) {
    // already freed: nothing to return
  }
}

// malloc(nbytes, device, owner) -> address. `owner` (the JS storage) is held weakly: if it is
// collected without free(), the block goes back at the next sweep.
Napi::Value Malloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 0) || n != (double)(int64_t)n) fail(ErrorKind::Value, "cuda alloc", "invalid size " + std::to_string(n));
    if (n > (double)kMaxAllocation) fail(ErrorKind::Memory, "cuda alloc", "cannot allocate " + std::to_string(n) + " bytes (at most 2^46 bytes per tensor)");
    int d = arg_int(info, 1);
    stream_for(d);
    if (collected_since_last_check(info.Env())) sweep_collected(info.Env());
    int64_t reserved = memory_stats(d).reserved;
    void* p = device_alloc(d, (size_t)n);
    report_reserved_change(info.Env(), memory_stats(d).reserved - reserved);
    if (info.Length() > 2 && info[2].IsObject()) track_owner(info.Env(), info[2], p, d, release_collected);
    return Napi::Number::New(info.Env(), (double)(uintptr_t)p);
  });
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    void* p = arg_ptr(info, 0);
    untrack_owner(p);
    device_free(arg_int(info, 1), p);
    return info.Env().Undefined();
  });
}

// copyToDevice(ptr, device, view): from pageable memory cudaMemcpyAsync has staged the bytes when it
// returns, so the view may change afterwards. From pinned memory the copy is truly asynchronous:
// the stream is waited for (PyTorch's rule for a copy without non_blocking), so that the promise
// holds there too (copyToDeviceAsync is the upload that returns at once).
Napi::Value CopyToDevice(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 1);
    HostView v = arg_view(info, 2);
    cudaStream_t s = stream_for(d);
    KILN_CUDA_CHECK(cudaMemcpyAsync(arg_ptr(info, 0), v.data, v.bytes, cudaMemcpyHostToDevice, s), "copy to device");
    if (is_pinned_host(v.data)) sync_device(env_state(info), d);
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
    sync_device(env_state(info), d);
    return info.Env().Undefined();
  });
}

// copyToHostAsync(ptr, device, view) -> Promise: the wait happens on a worker thread.
class CopyWorker : public Napi::AsyncWorker {
 public:
  CopyWorker(Napi::Env env, EnvState& state, void* src, int device, HostView dst, Napi::Object keep)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), state_(state), src_(src), device_(device), dst_(dst) {
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
      raise_device_error(state_);
      deferred_.Resolve(Env().Undefined());
    } catch (const KilnError& e) { deferred_.Reject(to_js_error(Env(), e).Value()); }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(to_js_error(Env(), ErrorKind::Cuda, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  EnvState& state_;
  void* src_;
  int device_;
  HostView dst_;
  cudaStream_t stream_;
  Napi::ObjectReference keep_;
};

Napi::Value CopyToHostAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto* w = new CopyWorker(info.Env(), env_state(info), arg_ptr(info, 0), arg_int(info, 1), arg_view(info, 2), info[2].As<Napi::Object>());
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
  return guarded(info, [&]() -> Napi::Value {
    sync_device(env_state(info), arg_int(info, 0));
    return info.Env().Undefined();
  });
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
    EnvState& s = env_state(info);
    sync_device(s, d);
    if ((int)s.timers.size() <= d) s.timers.resize(d + 1);
    DeviceTimer& t = s.timers[d];
    if (!t.base) t.base = new_event();
    KILN_CUDA_CHECK(cudaEventRecord(t.base, stream_for(d)), "profiler: cudaEventRecord");
    t.used = 0;
    t.open = false;
    t.on = true;
    s.timing = true;
    return info.Env().Undefined();
  });
}

// profileStop(device) -> Float64Array [start_0, end_0, start_1, end_1, ...]: milliseconds since
// profileStart of each launch timed on the device, in launch order (waits for the device).
Napi::Value ProfileStop(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    int d = arg_int(info, 0);
    EnvState& s = env_state(info);
    if (d < 0 || d >= (int)s.timers.size() || !s.timers[d].on)
      fail(ErrorKind::Internal, "profileStop", "device timing is not on for cuda:" + std::to_string(d));
    DeviceTimer& t = s.timers[d];
    t.on = false;
    s.timing = false;
    for (const DeviceTimer& other : s.timers) s.timing = s.timing || other.on;
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
  auto o = memory_stats_to_js(info.Env(), s);
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

// What extensions get from the CUDA device: workspace from the caching allocator (a block is
// reused by later work on the same stream, so it may be freed as soon as its work is queued), and
// a host loop that runs inline.
void* extension_alloc(int device, size_t bytes) {
  try {
    return device_alloc(device, bytes);
  } catch (...) { return nullptr; }
}
void extension_free(int device, void* ptr, size_t) {
  try {
    device_free(device, ptr);
  } catch (...) {
    // not a block of this allocator: nothing to give back
  }
}
void extension_parallel_for(int64_t n, int64_t, kiln_range_fn body, void* context) { body(context, 0, n); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* state = new EnvState();
  // The environment's end (a worker's exit): its queued work is waited for before its slot goes.
  env.AddCleanupHook([state]() {
    if (state->error_slot) {
      std::vector<cudaStream_t> streams;
      {
        std::lock_guard<std::mutex> lock(g_streams_mutex);
        streams = g_streams;
      }
      for (cudaStream_t s : streams)
        if (s) cudaStreamSynchronize(s);
      cudaFreeHost(state->error_slot);
    }
    delete state;
  });
  DeviceHooks hooks;
  hooks.before_launch = before_launch;
  hooks.after_launch = after_launch;
  hooks.state = state;
  export_kernel_api(env, exports, hooks);
  export_extension_loader(env, exports, ExtensionDevice{KILN_DEVICE_CUDA, extension_alloc, extension_free, extension_parallel_for});
  export_sweep(env, exports);
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) { exports.Set(name, Napi::Function::New(env, f, name, state)); };
  fn("deviceCount", DeviceCount);
  fn("deviceStatus", DeviceStatus);
  fn("deviceProperties", DeviceProperties);
  fn("malloc", Malloc);
  fn("free", Free);
  fn("copyToDevice", CopyToDevice);
  fn("copyToHost", CopyToHost);
  fn("copyToHostAsync", CopyToHostAsync);
  fn("copyOnDevice", CopyOnDevice);
  fn("synchronize", Synchronize);
  fn("memoryStats", Stats);
  fn("emptyCache", EmptyCache);
  fn("eventCreate", EventCreate);
  fn("eventRecord", EventRecord);
  fn("eventElapsed", EventElapsed);
  fn("eventDestroy", EventDestroy);
  fn("profileStart", ProfileStart);
  fn("profileStop", ProfileStop);
  export_library_api(env, exports);
  export_nccl_api(env, exports);
  export_pinned_api(env, exports);
  return exports;
}

}  // namespace

cudaStream_t device_stream(int device) { return stream_for(device); }

}}  // namespace kiln::cuda

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kiln::cuda::Init(env, exports); }
NODE_API_MODULE(kiln_cuda, InitAddon)
