// Pinned host memory for JS (pinned_host.h): an external ArrayBuffer over a pinned block, as the
// CPU addon hands out its blocks, so a pinned tensor is an ordinary CPU tensor to every CPU kernel.
//
//   hostAlloc(nbytes) -> ArrayBuffer       a pinned block; back to the cache on hostRelease, after a
//                                          collection took the buffer (the weak-owner sweep), or in
//                                          its finalizer, whichever comes first
//   hostRelease(buffer)                    returns the block now and detaches the buffer
//   copyToDeviceAsync(ptr, device, view)   queues the upload of a view of pinned memory and returns:
//                                          the block is not reused before the upload has run
//   hostMemoryStats(), hostEmptyCache()
#include "pinned_binding.h"
#include <string>
#include "../core/binding.h"
#include "../core/buffer_leases.h"
#include "../core/weak_owners.h"
#include "pinned_host.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

// Every pinned buffer is lent from here (core/buffer_leases.h: returned exactly once).
void give_back(void* block, size_t) { pinned::release(block); }
BufferLeases g_leases(give_back);

Napi::Value HostAlloc(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    if (!(n >= 0) || n != (double)(int64_t)n) fail(ErrorKind::Value, "pinMemory", "invalid size " + std::to_string(n));
    if (n > (double)kMaxLentBytes)
      fail(ErrorKind::Memory, "pinMemory", "cannot pin " + std::to_string((int64_t)n) + " bytes: a CPU tensor is at most 2^32 bytes (4 GiB)");
    if (collected_since_last_check(env)) sweep_collected(env);
    const int64_t before = pinned::reserved();
    size_t rounded = 0;
    void* p = pinned::allocate((size_t)n, &rounded);
    report_reserved_change(env, pinned::reserved() - before);
    return g_leases.lend(env, p, rounded, (size_t)n);
  });
}

Napi::Value HostRelease(const Napi::CallbackInfo& info) {
  if (info[0].IsArrayBuffer()) g_leases.release(info[0].As<Napi::ArrayBuffer>());
  return info.Env().Undefined();
}

Napi::Value CopyToDeviceAsync(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    void* dst = reinterpret_cast<void*>((uintptr_t)info[0].As<Napi::Number>().DoubleValue());
    const int device = info[1].As<Napi::Number>().Int32Value();
    auto view = info[2].As<Napi::TypedArray>();
    const char* src = static_cast<const char*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    void* block = pinned::block_containing(src);
    if (!block) fail(ErrorKind::Internal, "copy_to_device", "an asynchronous upload needs a source in pinned memory");
    cudaStream_t s = device_stream(device);
    check(cudaMemcpyAsync(dst, src, view.ByteLength(), cudaMemcpyHostToDevice, s), "copy to device");
    pinned::record_upload(block, device, s);
    return info.Env().Undefined();
  });
}

Napi::Value HostMemoryStats(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const pinned::Stats s = pinned::stats();
    auto o = memory_stats_to_js(info.Env(), s);
    o.Set("pendingUploads", (double)s.pending_uploads);
    return o;
  });
}

Napi::Value HostEmptyCache(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const int64_t before = pinned::reserved();
    pinned::empty_cache();
    report_reserved_change(info.Env(), pinned::reserved() - before);
    return info.Env().Undefined();
  });
}

}  // namespace

bool is_pinned_host(const void* p) { return pinned::block_containing(p) != nullptr; }

void export_pinned_api(Napi::Env env, Napi::Object exports) {
  exports.Set("hostAlloc", Napi::Function::New(env, HostAlloc, "hostAlloc"));
  exports.Set("hostRelease", Napi::Function::New(env, HostRelease, "hostRelease"));
  exports.Set("copyToDeviceAsync", Napi::Function::New(env, CopyToDeviceAsync, "copyToDeviceAsync"));
  exports.Set("hostMemoryStats", Napi::Function::New(env, HostMemoryStats, "hostMemoryStats"));
  exports.Set("hostEmptyCache", Napi::Function::New(env, HostEmptyCache, "hostEmptyCache"));
}

}}  // namespace kiln::cuda
