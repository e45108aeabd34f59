// The addon's functions for @kiln/distributed's 'nccl' backend (nccl.h):
//   ncclStatus() -> { available, enabled, version, path, reason }   (loads libnccl.so.2 on first call)
//   ncclUniqueId() -> Uint8Array(128)
//   ncclInit(world, id, rank, device, timeoutMs) -> handle           (blocks until every rank joined)
//   ncclLaunch(handle, kind, address, count, ncclDtype, op, root, timeoutMs) -> sequence number
//   ncclCompleted(handle) -> collectives known complete, in order
//   ncclFailure(handle) -> '' or why the communicator failed
//   ncclAbort(handle, why), ncclDestroy(handle)
// Errors are thrown as JS errors whose message names the call (the package turns them into
// DistributedErrors).
#include "nccl_binding.h"
#include <cstring>
#include <string>
#include "libraries_binding.h"
#include "nccl.h"

namespace kiln { namespace cuda {
namespace {

template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f(info.Env());
  } catch (const Napi::Error&) { throw; } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

int64_t int_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int64Value(); }

Napi::Value Status(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) -> Napi::Value { return library_status_to_js(env, nccl::status()); });
}

Napi::Value UniqueId(const Napi::CallbackInfo& info) {
  return guarded(info, [](Napi::Env env) -> Napi::Value {
    std::string id = nccl::unique_id();
    auto out = Napi::Uint8Array::New(env, id.size());
    std::memcpy(out.Data(), id.data(), id.size());
    return out;
  });
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    auto id = info[1].As<Napi::Uint8Array>();
    std::string bytes(reinterpret_cast<const char*>(id.Data()), id.ByteLength());
    return Napi::Number::New(env, nccl::init((int)int_arg(info, 0), bytes, (int)int_arg(info, 2), (int)int_arg(info, 3), int_arg(info, 4)));
  });
}

Napi::Value Launch(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    int64_t seq = nccl::launch((nccl::Handle)int_arg(info, 0), static_cast<nccl::Collective>(int_arg(info, 1)), (uintptr_t)int_arg(info, 2),
                               (size_t)int_arg(info, 3), (int)int_arg(info, 4), (int)int_arg(info, 5), (int)int_arg(info, 6), int_arg(info, 7));
    return Napi::Number::New(env, (double)seq);
  });
}

Napi::Value Completed(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, (double)nccl::completed((nccl::Handle)int_arg(info, 0))); });
}

Napi::Value Failure(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value { return Napi::String::New(env, nccl::failure((nccl::Handle)int_arg(info, 0))); });
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    nccl::abort((nccl::Handle)int_arg(info, 0), info[1].As<Napi::String>().Utf8Value());
    return env.Undefined();
  });
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  return guarded(info, [&](Napi::Env env) -> Napi::Value {
    nccl::destroy((nccl::Handle)int_arg(info, 0));
    return env.Undefined();
  });
}

}  // namespace

void export_nccl_api(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclStatus", Napi::Function::New(env, Status));
  exports.Set("ncclUniqueId", Napi::Function::New(env, UniqueId));
  exports.Set("ncclInit", Napi::Function::New(env, Init));
  exports.Set("ncclLaunch", Napi::Function::New(env, Launch));
  exports.Set("ncclCompleted", Napi::Function::New(env, Completed));
  exports.Set("ncclFailure", Napi::Function::New(env, Failure));
  exports.Set("ncclAbort", Napi::Function::New(env, Abort));
  exports.Set("ncclDestroy", Napi::Function::New(env, Destroy));
}

}}  // namespace kiln::cuda
