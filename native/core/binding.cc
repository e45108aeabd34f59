#include "binding.h"
#include <string>
#include <utility>
#include "call_record.h"

namespace kiln {

namespace {

// The kernel API's state in one JS environment. Launch, setArgBuffer and kernelNames are bound to
// it (their callback data), so a call finds its environment's state without a lookup.
struct ApiState {
  DeviceHooks hooks;
  Napi::Reference<Napi::Float64Array> arg_ref;   // keeps this environment's argument buffer alive
  double* args = nullptr;
  size_t args_len = 0;
  KernelCall call;                                // reused: one environment runs one call at a time
};

const char* kind_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Shape: return "shape";
    case ErrorKind::DType: return "dtype";
    case ErrorKind::Device: return "device";
    case ErrorKind::Value: return "value";
    case ErrorKind::Cuda: return "cuda";
    case ErrorKind::Memory: return "memory";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

ApiState& state_of(const Napi::CallbackInfo& info) { return *static_cast<ApiState*>(info.Data()); }

Napi::Value SetArgBuffer(const Napi::CallbackInfo& info) {
  ApiState& s = state_of(info);
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    to_js_error(info.Env(), ErrorKind::Internal, "setArgBuffer: expected a Float64Array").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  auto arr = info[0].As<Napi::Float64Array>();
  s.arg_ref = Napi::Persistent(arr);
  s.args = arr.Data();
  s.args_len = arr.ElementLength();
  return info.Env().Undefined();
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  auto names = Napi::Array::New(info.Env(), kernel_count());
  for (int i = 0; i < kernel_count(); ++i) names.Set((uint32_t)i, Napi::String::New(info.Env(), kernel_name(i)));
  return names;
}

// launch(kernelId): the call's tensors and attributes are in the environment's argument buffer.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ApiState& s = state_of(info);
  int id = info[0].As<Napi::Number>().Int32Value();   // a non-number throws (napi_number_expected)
  if (id < 0 || id >= kernel_count()) {
    to_js_error(env, ErrorKind::Internal, "launch: unknown kernel id " + std::to_string(id)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  KernelCall& c = s.call;
  c.name = kernel_name(id);
  c.id = id;
  try {
    decode_call(s.args, s.args_len, c);
    if (s.hooks.before_launch) s.hooks.before_launch(c, s.hooks.state);
    kernel_fn(id)(c);
    if (s.hooks.after_launch) s.hooks.after_launch(c, s.hooks.state);
  } catch (const KilnError& e) { to_js_error(env, e).ThrowAsJavaScriptException(); } catch (const std::bad_alloc&) {
    to_js_error(env, ErrorKind::Memory, std::string(c.name) + ": out of memory").ThrowAsJavaScriptException();
  } catch (const std::exception& e) { to_js_error(env, ErrorKind::Internal, std::string(c.name) + ": " + e.what()).ThrowAsJavaScriptException(); }
  return env.Undefined();
}

}  // namespace

Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("kind", Napi::String::New(env, kind_name(kind)));
  return err;
}
Napi::Error to_js_error(Napi::Env env, const KilnError& e) {
  Napi::Error err = to_js_error(env, e.kind, e.what());
  // the facts as fields (fromNativeError in packages/tensor/src/errors.ts reads them); unknown ones are left out
  const std::pair<const char*, const std::string*> facts[] = {
      {"op", &e.facts.op}, {"argument", &e.facts.argument}, {"expected", &e.facts.expected}, {"got", &e.facts.got}};
  for (const auto& [key, value] : facts)
    if (!value->empty()) err.Set(key, Napi::String::New(env, *value));
  return err;
}

void export_kernel_api(Napi::Env env, Napi::Object exports, DeviceHooks hooks) {
  auto* s = new ApiState();
  s->hooks = hooks;
  // Freed when the environment ends (a worker's exit, the process's). The environment deletes its
  // references itself at teardown, so the buffer's is not deleted here.
  env.AddCleanupHook([s]() {
    s->arg_ref.SuppressDestruct();
    delete s;
  });
  exports.Set("setArgBuffer", Napi::Function::New(env, SetArgBuffer, "setArgBuffer", s));
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames, "kernelNames", s));
  exports.Set("launch", Napi::Function::New(env, Launch, "launch", s));
}

}  // namespace kiln
