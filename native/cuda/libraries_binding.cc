// The addon's functions about NVIDIA's libraries (@kiln/cuda's cudaLibraries, setLibraryEnabled,
// setCudnnBenchmark): libraries() -> { cublasLt, cudnn, nvrtc: { available, enabled, version, path,
// reason } } (loading them on first call), libraryStatus(name) (one, loading only it), setLibraryEnabled(name, on), setCudnnBenchmark(on),
// cudnnBenchmark(), setCudnnGraph(on), cudnnGraph() (the convolutions' graph API or the legacy one),
// denseCallCounts() (how many products and convolutions each path ran).
#include <napi.h>
#include "../core/binding.h"
#include "conv_cudnn_graph.h"
#include "gemm.h"
#include "libraries_binding.h"
#include "nvidia_libraries.h"

namespace kiln { namespace cuda {

Napi::Object library_status_to_js(Napi::Env env, const LibraryStatus& s) {
  auto o = Napi::Object::New(env);
  o.Set("available", s.available);
  o.Set("enabled", s.enabled);
  o.Set("version", s.version.empty() ? env.Null() : Napi::String::New(env, s.version));
  o.Set("path", s.path.empty() ? env.Null() : Napi::String::New(env, s.path));
  if (!s.reason.empty()) o.Set("reason", s.reason);
  return o;
}

namespace {

Napi::Object to_js(Napi::Env env, const LibraryStatus& s) { return library_status_to_js(env, s); }

Napi::Value Libraries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("cublasLt", to_js(env, cublaslt::status()));
  o.Set("cudnn", to_js(env, cudnn::status()));
  o.Set("nvrtc", to_js(env, cudnn::nvrtc_status()));
  return o;
}

// libraryStatus(name): one library's status, loading only that one (cuBLASLt or cuDNN).
Napi::Value LibraryStatusOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (name == "cublasLt") return to_js(env, cublaslt::status());
  if (name == "cudnn") return to_js(env, cudnn::status());
  to_js_error(env, ErrorKind::Value, "libraryStatus: unknown library '" + name + "'").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SetLibraryEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool on = info[1].As<Napi::Boolean>().Value();
  if (name == "cublasLt") cublaslt::set_enabled(on);
  else if (name == "cudnn") cudnn::set_enabled(on);
  else to_js_error(env, ErrorKind::Value, "setLibraryEnabled: unknown library '" + name + "'").ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SetCudnnBenchmark(const Napi::CallbackInfo& info) {
  cudnn::set_benchmark(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value DenseCallCounts(const Napi::CallbackInfo& info) {
  const DenseCounts& n = dense_counts();
  auto o = Napi::Object::New(info.Env());
  o.Set("matmulCublasLt", (double)n.gemm_cublaslt.load());
  o.Set("matmulKiln", (double)n.gemm_kiln.load());
  o.Set("conv2dCudnn", (double)n.conv_cudnn.load());
  o.Set("conv2dCudnnGraph", (double)n.conv_cudnn_graph.load());
  o.Set("conv2dKiln", (double)n.conv_im2col.load());
  return o;
}

Napi::Value CudnnBenchmark(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cudnn::benchmark()); }

Napi::Value SetCudnnGraph(const Napi::CallbackInfo& info) {
  cudnn::set_graph(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value CudnnGraph(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), cudnn::graph()); }

Napi::Value CudnnGraphFallbackReason(const Napi::CallbackInfo& info) {
  const std::string r = cudnn_conv::graph_fallback_reason();
  return r.empty() ? info.Env().Null() : Napi::String::New(info.Env(), r);
}

}  // namespace

void export_library_api(Napi::Env env, Napi::Object exports) {
  exports.Set("libraries", Napi::Function::New(env, Libraries));
  exports.Set("libraryStatus", Napi::Function::New(env, LibraryStatusOf));
  exports.Set("setLibraryEnabled", Napi::Function::New(env, SetLibraryEnabled));
  exports.Set("setCudnnBenchmark", Napi::Function::New(env, SetCudnnBenchmark));
  exports.Set("cudnnBenchmark", Napi::Function::New(env, CudnnBenchmark));
  exports.Set("setCudnnGraph", Napi::Function::New(env, SetCudnnGraph));
  exports.Set("cudnnGraph", Napi::Function::New(env, CudnnGraph));
  exports.Set("cudnnGraphFallbackReason", Napi::Function::New(env, CudnnGraphFallbackReason));
  exports.Set("denseCallCounts", Napi::Function::New(env, DenseCallCounts));
}

}}  // namespace kiln::cuda
