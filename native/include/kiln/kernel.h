// The native boundary's data model. TypeScript encodes a kernel call into a shared Float64Array
// (packages/tensor/src/native/args.ts writes it, core/binding.cc reads it): per tensor its dtype,
// data address (offset already applied), shape and strides in elements; then numeric attributes.
// Kernels register themselves by name with KILN_KERNEL in their own file: no central table.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include "kiln/dtype.h"

namespace kiln {

constexpr int kMaxDims = 12;
constexpr int kMaxTensors = 16;
constexpr int kMaxAttrs = 64;

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

// Typed failures, turned by the binding (core/binding.cc) into JS errors of the same kind whose
// fields are these facts (packages/tensor/src/errors.ts): the op, the argument at fault, what was
// expected and what was given. An empty fact is one the raiser does not know.
enum class ErrorKind { Shape, DType, Device, Value, Cuda, Memory, Internal };
struct ErrorFacts {
  std::string op, argument, expected, got;
};
struct KilnError : std::runtime_error {
  ErrorKind kind;
  ErrorFacts facts;
  KilnError(ErrorKind k, const std::string& msg, ErrorFacts f = {}) : std::runtime_error(msg), kind(k), facts(std::move(f)) {}
};
// Throws "op: msg"; only the op is a fact.
[[noreturn]] void fail(ErrorKind kind, const std::string& op, const std::string& msg);
// Throws "facts.op: msg" with every fact given (a message worded otherwise than expected/got).
[[noreturn]] void fail(ErrorKind kind, const ErrorFacts& facts, const std::string& msg);
// Throws "op: argument 'argument' expected <expected>, got <got>" (no argument: "op: expected ...,
// got ..."), every part a fact: the message TypeScript's `new XError(op, argument, expected, got)` makes.
[[noreturn]] void fail_arg(ErrorKind kind, const std::string& op, const std::string& argument, const std::string& expected, const std::string& got);

struct DeviceErrorSlot;
// Says in words what a kernel's input should have held, for an error found on the device (the
// "expected" fact): for kernels whose valid values are not one range [lo, hi], or whose CPU twin
// words them otherwise. Host code; the same wording function serves the CPU kernel's own check.
using DeviceErrorWording = std::string (*)(const DeviceErrorSlot& error);

struct KernelRegistrar {
  KernelRegistrar(const char* name, KernelFn fn, const char* input_names = nullptr, DeviceErrorWording wording = nullptr);
};
int kernel_count();
const char* kernel_name(int id);
KernelFn kernel_fn(int id);
// Name of input `arg` of kernel `id` as the kernel registered it (KILN_KERNEL_ARGS), else "".
std::string kernel_input_arg(int id, int arg);
// The same for a message: "argument 'name'" when registered, else "input <arg>".
std::string kernel_input_name(int id, int arg);
// What kernel `id`'s input should have held, for the error in `error`: its registered wording, else
// "a value in [lo, hi]".
std::string kernel_error_expected(int id, const DeviceErrorSlot& error);

}  // namespace kiln

#define KILN_CONCAT_(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_(a, b)
// Registers `fn` as this device's kernel for op `name` (snake_case, the op's TS name).
#define KILN_KERNEL(name, fn) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn)
// The same, naming the inputs (comma-separated) so errors found on the device can name the argument.
#define KILN_KERNEL_ARGS(name, fn, input_names) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn, input_names)
// The same with a DeviceErrorWording for what the inputs should hold.
#define KILN_KERNEL_WORDED(name, fn, input_names, wording) static ::kiln::KernelRegistrar KILN_CONCAT(kiln_kernel_, __COUNTER__)(name, fn, input_names, wording)
// Raises `kind` with "op: msg" unless `cond` holds (msg is built only then).
#define KILN_CHECK(cond, kind, op, msg)                          \
  do {                                                           \
    if (!(cond)) ::kiln::fail(::kiln::ErrorKind::kind, op, msg); \
  } while (0)
// The same with the facts apart: "op: argument 'argument' expected <expected>, got <got>".
#define KILN_CHECK_ARG(cond, kind, op, argument, expected, got)                          \
  do {                                                                                   \
    if (!(cond)) ::kiln::fail_arg(::kiln::ErrorKind::kind, op, argument, expected, got); \
  } while (0)
