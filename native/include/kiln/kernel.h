// The native boundary's data model. TypeScript encodes a kernel call into a shared Float64Array
// (packages/tensor/src/native/args.ts writes it, core/binding.cc reads it): per tensor its dtype,
// data address (offset already applied), shape and strides in elements; then numeric attributes.
// Kernels register themselves by name with KILN_KERNEL in their own file: no central table.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include "kiln/dtype.h"
#include "kiln/error.h"
#include "kiln/extension/abi.h"

namespace kiln {

constexpr int kMaxDims = 12;
constexpr int kMaxTensors = 16;
constexpr int kMaxAttrs = 64;
constexpr int kMaxKernels = 4096;   // a device's table: Kiln's kernels and every extension's

struct TensorArg {
  char* data;          // address of element [0, 0, ...] (the view's offset applied)
  DType dtype;
  int ndim;
  int64_t numel;
  int64_t shape[kMaxDims];
  int64_t strides[kMaxDims];   // in elements; 0 for broadcast dimensions
  template <typename T> T* ptr() const { return reinterpret_cast<T*>(data); }
  bool is_contiguous() const;
};

struct KernelCall {
  const char* name;
  int id;                      // index in the kernel table (device errors report it)
  int device;                  // device index (CUDA), 0 on the CPU
  int n_inputs, n_outputs, n_attrs;
  TensorArg inputs[kMaxTensors];
  TensorArg outputs[kMaxTensors];
  double attrs[kMaxAttrs];
  void* stream = nullptr;      // CUDA: the device's stream; CPU: unused
  void* error_slot = nullptr;  // CUDA: a DeviceErrorSlot* in host-mapped memory
  const TensorArg& in(int i) const;
  TensorArg& out(int i);
  double attr(int i) const;
  int64_t int_attr(int i) const;
};

using KernelFn = void (*)(KernelCall&);

// Says in words what a kernel's input should have held, for an error found on the device (the
// "expected" fact): for kernels whose valid values are not one range [lo, hi], or whose CPU twin
// words them otherwise. Host code; the same wording function serves the CPU kernel's own check.
// (kiln_device_error is the C ABI's slot, which kiln/device_error.h names DeviceErrorSlot.)
using DeviceErrorWording = std::string (*)(const kiln_device_error& error);

struct KernelRegistrar {
  KernelRegistrar(const char* name, KernelFn fn, const char* input_names = nullptr, DeviceErrorWording wording = nullptr);
};
int kernel_count();
const char* kernel_name(int id);
KernelFn kernel_fn(int id);
// Appends a kernel to the table while the process runs (an extension's, core/extensions.cc): its
// id, or -1 when the table is full. The strings must live as long as the process.
int add_kernel(const char* name, KernelFn fn, const char* input_names, kiln_kernel_fn extension_fn, const char* owner, DeviceErrorWording wording = nullptr);
// An extension kernel's C function (null for Kiln's own) and the library that registered it.
kiln_kernel_fn kernel_extension_fn(int id);
const char* kernel_owner(int id);
// The id of the kernel named `name`, or -1.
int find_kernel(const char* name);
// Name of input `arg` of kernel `id` as the kernel registered it (KILN_KERNEL_ARGS), else "".
std::string kernel_input_arg(int id, int arg);
// The same for a message: "argument 'name'" when registered, else "input <arg>".
std::string kernel_input_name(int id, int arg);
// What kernel `id`'s input should have held, for the error in `error`: its registered wording, else
// "a value in [lo, hi]".
std::string kernel_error_expected(int id, const kiln_device_error& error);

}  // namespace kiln

// Registers `fn` as this device's kernel for op `name` (snake_case, the op's TS name).
#define KILN_KERNEL(name, fn) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn)
// The same, naming the inputs (comma-separated) so errors found on the device can name the argument.
#define KILN_KERNEL_ARGS(name, fn, input_names) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn, input_names)
// The same with a DeviceErrorWording for what the inputs should hold.
#define KILN_KERNEL_WORDED(name, fn, input_names, wording) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn, input_names, wording)
