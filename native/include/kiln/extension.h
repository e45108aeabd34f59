// Writing Kiln kernels outside Kiln: the C++ side of the extension ABI (kiln/extension/abi.h),
// header-only and compiled into the extension's own library. A kernel reads as one of Kiln's own:
//
//   #include "kiln/extension.h"
//   using kiln::ext::KernelCall;
//
//   void scale_cpu(KernelCall& c) {
//     const auto x = c.in(0), y = c.out(0);
//     KILN_CHECK(x.numel() == y.numel(), Shape, c.name, "input and output sizes differ");
//     KILN_DISPATCH_FLOATING(x.dtype(), c.name, {
//       const scalar_t* a = x.ptr<scalar_t>();
//       ...
//     });
//   }
//   KILN_CPU_KERNEL("my_scale", scale_cpu);               // in a .cu file: KILN_CUDA_KERNEL
//
// What an extension may include besides this header (all header-only, the same files Kiln's own
// kernels compile): kiln/hd.h (KILN_HD), kiln/dtype.h (DType, Half, BFloat16, load/store,
// compute_t, the KILN_DISPATCH_* macros), kiln/error.h (KILN_CHECK), kiln/device_error.h
// (report_index_error / report_value_error from CUDA kernels), kiln/int_divider.h and the
// formulas in kiln/math/ that include nothing else (scalar.h, wrapping.h, elementwise_ops.h,
// reduce_ops.h, softmax.h). The rest of Kiln's headers describe its internals and change freely.
//
// Errors: KILN_CHECK, KILN_CHECK_ARG and the dispatch macros throw a kiln::KilnError inside the
// extension; the registration macros wrap each kernel so that every exception stops at the ABI and
// reaches JS as the typed error of its kind (ShapeError, DTypeError, ...), naming the op, with its
// facts (argument, expected, got) as the error's fields.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <vector>
#include "kiln/device_error.h"
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "kiln/extension/abi.h"
#include "kiln/hd.h"
#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif

namespace kiln { namespace ext {

// One tensor argument (a strided view), read through the ABI's kiln_tensor.
class TensorArg {
 public:
  explicit TensorArg(const kiln_tensor* t) : t_(t) {}
  // The address of element [0, 0, ...], as T (the caller dispatched on dtype()).
  template <typename T> T* ptr() const { return static_cast<T*>(t_->data); }
  DType dtype() const { return static_cast<DType>(t_->dtype); }
  int ndim() const { return t_->ndim; }
  int64_t numel() const { return t_->numel; }
  // Size and stride (in elements) of dimension d, 0 <= d < ndim().
  int64_t size(int d) const { return t_->shape[d]; }
  int64_t stride(int d) const { return t_->strides[d]; }
  const int64_t* sizes() const { return t_->shape; }
  const int64_t* strides() const { return t_->strides; }
  // Row-major with unit strides (size-1 dimensions may have any stride).
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int d = t_->ndim - 1; d >= 0; --d) {
      if (t_->shape[d] != 1 && t_->strides[d] != expected) return false;
      expected *= t_->shape[d];
    }
    return true;
  }
  const kiln_tensor& raw() const { return *t_; }

 private:
  const kiln_tensor* t_;
};

template <typename T> class Workspace;

// A kernel call, as Kiln's own kernels see theirs: c.name, c.in(i), c.out(i), c.attr(i).
class KernelCall {
 public:
  explicit KernelCall(const kiln_call* c) : name(c->name), raw(c) {}
  const char* const name;      // the op's name (for KILN_CHECK messages)
  const kiln_call* const raw;  // the ABI record

  int n_inputs() const { return raw->n_inputs; }
  int n_outputs() const { return raw->n_outputs; }
  int n_attrs() const { return raw->n_attrs; }
  // Input / output i; an index past the call's tensors is an InternalError naming the op.
  TensorArg in(int i) const {
    if (i < 0 || i >= raw->n_inputs) fail(ErrorKind::Internal, name, "missing input " + std::to_string(i));
    return TensorArg(raw->inputs + i);
  }
  TensorArg out(int i) const {
    if (i < 0 || i >= raw->n_outputs) fail(ErrorKind::Internal, name, "missing output " + std::to_string(i));
    return TensorArg(raw->outputs + i);
  }
  // Numeric attribute i, in the order TypeScript passed them to launchKernel.
  double attr(int i) const {
    if (i < 0 || i >= raw->n_attrs) fail(ErrorKind::Internal, name, "missing attribute " + std::to_string(i));
    return raw->attrs[i];
  }
  int64_t int_attr(int i) const { return (int64_t)attr(i); }
  // The device index (CUDA; 0 on the CPU) and this kernel's id (device errors report it).
  int device() const { return raw->device_index; }
  int kernel_id() const { return raw->kernel_id; }
  // CUDA: the error slot for report_index_error / report_value_error (kiln/device_error.h).
  DeviceErrorSlot* error_slot() const { return raw->device_error; }
#if defined(__CUDACC__)
  // CUDA: the device's stream; every kernel of the call must be launched on it.
  cudaStream_t stream() const { return static_cast<cudaStream_t>(raw->stream); }
#endif

  // Scratch memory of n elements of T from the device's caching allocator, given back when the
  // Workspace goes out of scope (an exception included). A MemoryError (OutOfMemoryError in JS)
  // when the device has no memory left.
  template <typename T> Workspace<T> workspace(int64_t n) const { return Workspace<T>(*this, n); }

  // Calls f(begin, end) on pieces of [0, n) on Kiln's CPU threads (at least `grain` indices per
  // piece; small ranges run inline); returns when all are done. The first exception thrown by a
  // piece is rethrown here once every piece has finished.
  template <typename F> void parallel_for(int64_t n, int64_t grain, const F& f) const {
    if (n <= 0) return;
    struct Context {
      const F* f;
      std::atomic<bool> failed{false};
      std::exception_ptr error;
    } ctx{&f};
    raw->api->parallel_for(
        n, grain,
        [](void* p, int64_t b, int64_t e) {
          auto* c = static_cast<Context*>(p);
          if (c->failed.load(std::memory_order_relaxed)) return;
          try {
            (*c->f)(b, e);
          } catch (...) {
            if (!c->failed.exchange(true)) c->error = std::current_exception();
          }
        },
        &ctx);
    if (ctx.error) std::rethrow_exception(ctx.error);
  }
};

#if defined(__CUDACC__)
// Raises a CudaError (an OutOfMemoryError for cudaErrorMemoryAllocation) naming `what` (the op)
// unless `err` is cudaSuccess, as Kiln's own kernels do.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaGetLastError();   // clear a non-sticky error so the process can go on
  fail(err == cudaErrorMemoryAllocation ? ErrorKind::Memory : ErrorKind::Cuda, what, std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err));
}
// Checks a CUDA runtime call: KILN_CUDA_CHECK(cudaMemsetAsync(p, 0, n, c.stream()), c.name).
#define KILN_CUDA_CHECK(expr, what) ::kiln::ext::check_cuda((expr), (what))
#endif

template <typename T> class Workspace {
 public:
  Workspace(const KernelCall& c, int64_t n) : c_(c.raw), bytes_((size_t)(n > 0 ? n : 0) * sizeof(T)) {
    if (n < 0 || (uint64_t)n > (uint64_t)INT64_MAX / sizeof(T)) fail(ErrorKind::Value, c.name, "invalid workspace size " + std::to_string(n));
    p_ = static_cast<T*>(c_->api->workspace_alloc(c_, bytes_));
    if (p_ == nullptr) fail(ErrorKind::Memory, c.name, "out of memory allocating " + std::to_string(bytes_) + " bytes of workspace");
  }
  ~Workspace() { c_->api->workspace_free(c_, p_, bytes_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  Workspace(Workspace&& o) noexcept : c_(o.c_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  T* get() const { return p_; }

 private:
  const kiln_call* c_;
  T* p_ = nullptr;
  size_t bytes_;
};

namespace detail {

using Kernel = void (*)(KernelCall&);

struct Registration {
  int32_t device_type;
  const char* name;
  kiln_kernel_fn fn;
  const char* input_names;
};
// This library's kernels, filled by the registration macros when it is loaded and offered to Kiln
// by kiln_extension_register (kiln/extension/entry.cc). One list per library (hidden visibility).
inline std::vector<Registration>& registrations() {
  static std::vector<Registration> r;
  return r;
}
struct Registrar {
  Registrar(int32_t device_type, const char* name, kiln_kernel_fn fn, const char* input_names = nullptr) {
    registrations().push_back({device_type, name, fn, input_names});
  }
};

inline void report(const kiln_call* c, int32_t kind, const char* message) {
  kiln_error e{kind, nullptr, nullptr, nullptr, message};
  c->api->set_error(c, &e);
}
// A KilnError with its facts (KILN_CHECK_ARG's argument / expected / got; an unknown one: NULL).
inline void report(const kiln_call* c, const KilnError& err) {
  auto fact = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
  kiln_error e{(int32_t)err.kind, fact(err.facts.argument), fact(err.facts.expected), fact(err.facts.got), err.what()};
  c->api->set_error(c, &e);
}

// Runs F and turns whatever it throws into an error reported through the ABI.
template <Kernel F> int run_guarded(const kiln_call* c) noexcept {
  try {
    KernelCall call(c);
    F(call);
    return 0;
  } catch (const KilnError& e) { report(c, e); } catch (const std::bad_alloc&) {
    report(c, KILN_ERROR_MEMORY, (std::string(c->name) + ": out of memory").c_str());
  } catch (const std::exception& e) { report(c, KILN_ERROR_INTERNAL, (std::string(c->name) + ": " + e.what()).c_str()); } catch (...) {
    report(c, KILN_ERROR_INTERNAL, (std::string(c->name) + ": the kernel threw an unknown exception").c_str());
  }
  return 1;
}

template <Kernel F> int run_cpu(const kiln_call* c) noexcept { return run_guarded<F>(c); }

#if defined(__CUDACC__)
// A CUDA kernel's entry: the extension has its own copy of the CUDA runtime, so it selects the
// call's device itself, and checks its own launches afterwards (cudaGetLastError reports errors of
// this library's launches only).
template <Kernel F> void cuda_launch(KernelCall& call) {
  KILN_CUDA_CHECK(cudaSetDevice(call.device()), call.name);
  F(call);
  KILN_CUDA_CHECK(cudaGetLastError(), call.name);
}
template <Kernel F> int run_cuda(const kiln_call* c) noexcept { return run_guarded<cuda_launch<F>>(c); }
#endif

}  // namespace detail
}}  // namespace kiln::ext

// Registers `fn` (void fn(kiln::ext::KernelCall&)) as the CPU kernel of op `name` (snake_case).
#define KILN_CPU_KERNEL(name, fn) \
  static ::kiln::ext::detail::Registrar KILN_CONCAT(kiln_ext_kernel_, __COUNTER__)(KILN_DEVICE_CPU, name, &::kiln::ext::detail::run_cpu<fn>)
// The same, naming the inputs (comma-separated) for errors found on the device.
#define KILN_CPU_KERNEL_ARGS(name, fn, input_names) \
  static ::kiln::ext::detail::Registrar KILN_CONCAT(kiln_ext_kernel_, __COUNTER__)(KILN_DEVICE_CPU, name, &::kiln::ext::detail::run_cpu<fn>, input_names)
#if defined(__CUDACC__)
// Registers `fn` as the CUDA kernel of op `name`: fn launches its work on c.stream(); launch errors
// are checked after it returns. Only in .cu files.
#define KILN_CUDA_KERNEL(name, fn) \
  static ::kiln::ext::detail::Registrar KILN_CONCAT(kiln_ext_kernel_, __COUNTER__)(KILN_DEVICE_CUDA, name, &::kiln::ext::detail::run_cuda<fn>)
#define KILN_CUDA_KERNEL_ARGS(name, fn, input_names) \
  static ::kiln::ext::detail::Registrar KILN_CONCAT(kiln_ext_kernel_, __COUNTER__)(KILN_DEVICE_CUDA, name, &::kiln::ext::detail::run_cuda<fn>, input_names)
#endif
