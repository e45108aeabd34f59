#include "binding.h"
#include <string>

namespace kiln {

namespace {

DeviceHooks g_hooks;
Napi::Reference<Napi::Float64Array> g_arg_ref;   // keeps the shared argument buffer alive
double* g_args = nullptr;
size_t g_args_len = 0;
KernelCall g_call;                                // reused: JS is single-threaded

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

// Reads one tensor record: dtype, ndim, data address, shape[ndim], strides[ndim].
size_t decode_tensor(const char* op, size_t pos, TensorArg& t) {
  t.dtype = (DType)(int)g_args[pos];
  t.ndim = (int)g_args[pos + 1];
  if (t.ndim < 0 || t.ndim > kMaxDims)
    fail(ErrorKind::Shape, op, "tensors may have at most " + std::to_string(kMaxDims) + " dimensions, got " + std::to_string(t.ndim));
  t.data = reinterpret_cast<char*>((uintptr_t)g_args[pos + 2]);
  pos += 3;
  t.numel = 1;
  for (int d = 0; d < t.ndim; ++d) { t.shape[d] = (int64_t)g_args[pos + d]; t.numel *= t.shape[d]; }
  pos += t.ndim;
  for (int d = 0; d < t.ndim; ++d) t.strides[d] = (int64_t)g_args[pos + d];
  return pos + t.ndim;
}

Napi::Value SetArgBuffer(const Napi::CallbackInfo& info) {
  auto arr = info[0].As<Napi::Float64Array>();
  g_arg_ref = Napi::Persistent(arr);
  g_args = arr.Data();
  g_args_len = arr.ElementLength();
  return info.Env().Undefined();
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  auto names = Napi::Array::New(info.Env(), kernel_count());
  for (int i = 0; i < kernel_count(); ++i) names.Set((uint32_t)i, Napi::String::New(info.Env(), kernel_name(i)));
  return names;
}

// launch(kernelId): the call's tensors and attributes are in the shared argument buffer.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  if (id < 0 || id >= kernel_count()) {
    to_js_error(env, ErrorKind::Internal, "launch: unknown kernel id " + std::to_string(id)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  KernelCall& c = g_call;
  c.name = kernel_name(id);
  c.id = id;
  try {
    c.device = (int)g_args[0];
    c.n_inputs = (int)g_args[1];
    c.n_outputs = (int)g_args[2];
    c.n_attrs = (int)g_args[3];
    if (c.n_inputs > kMaxTensors || c.n_outputs > kMaxTensors || c.n_attrs > kMaxAttrs)
      fail(ErrorKind::Internal, c.name, "too many arguments");
    size_t pos = 4;
    for (int i = 0; i < c.n_inputs; ++i) pos = decode_tensor(c.name, pos, c.inputs[i]);
    for (int i = 0; i < c.n_outputs; ++i) pos = decode_tensor(c.name, pos, c.outputs[i]);
    for (int i = 0; i < c.n_attrs; ++i) c.attrs[i] = g_args[pos + i];
    if (g_hooks.before_launch) g_hooks.before_launch(c);
    kernel_fn(id)(c);
    if (g_hooks.after_launch) g_hooks.after_launch(c);
  } catch (const KilnError& e) {
    to_js_error(env, e).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    to_js_error(env, ErrorKind::Internal, std::string(c.name) + ": " + e.what()).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace

Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& msg) {
  Napi::Error err = Napi::Error::New(env, msg);
  err.Set("kind", Napi::String::New(env, kind_name(kind)));
  return err;
}
Napi::Error to_js_error(Napi::Env env, const KilnError& e) { return to_js_error(env, e.kind, e.what()); }

void export_kernel_api(Napi::Env env, Napi::Object exports, DeviceHooks hooks) {
  g_hooks = hooks;
  exports.Set("setArgBuffer", Napi::Function::New(env, SetArgBuffer));
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames));
  exports.Set("launch", Napi::Function::New(env, Launch));
}

}  // namespace kiln
