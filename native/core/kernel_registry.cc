#include <string>
#include <tuple>
#include <vector>
#include "kiln/device_error.h"
#include "kiln/kernel.h"

namespace kiln {

namespace {
// Function-local static: registrars in other translation units may run before this file's statics.
struct Entry {
  const char* name;
  KernelFn fn;
  const char* inputs;
  DeviceErrorWording wording;
};
std::vector<Entry>& table() {
  static std::vector<Entry> t;
  return t;
}
}  // namespace

KernelRegistrar::KernelRegistrar(const char* name, KernelFn fn, const char* inputs, DeviceErrorWording wording) {
  table().push_back({name, fn, inputs, wording});
}
int kernel_count() { return (int)table().size(); }
const char* kernel_name(int id) { return table()[id].name; }
KernelFn kernel_fn(int id) { return table()[id].fn; }

std::string kernel_input_arg(int id, int arg) {
  const char* names = id >= 0 && id < kernel_count() ? table()[id].inputs : nullptr;
  if (!names) return "";
  std::string all(names);
  size_t start = 0;
  for (int i = 0; i < arg && start != std::string::npos; ++i) {
    start = all.find(',', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos) return "";
  size_t end = all.find(',', start);
  std::string n = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t first = n.find_first_not_of(' ');
  return first == std::string::npos ? "" : n.substr(first);
}

std::string kernel_input_name(int id, int arg) {
  std::string n = kernel_input_arg(id, arg);
  return n.empty() ? "input " + std::to_string(arg) : "argument '" + n + "'";
}

std::string kernel_error_expected(int id, const DeviceErrorSlot& e) {
  if (id >= 0 && id < kernel_count() && table()[id].wording) return table()[id].wording(e);
  if (e.is_float) return "a value in [" + std::to_string(e.flo) + ", " + std::to_string(e.fhi) + "]";
  return "a value in [" + std::to_string(e.lo) + ", " + std::to_string(e.hi) + "]";
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "unknown";
}

int dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
    case DType::Int32: return 4;
    case DType::Float64:
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::Float16:
    case DType::BFloat16: return 2;
  }
  return 0;
}

void fail(ErrorKind kind, const std::string& op, const std::string& msg) { throw KilnError(kind, op + ": " + msg, {op, "", "", ""}); }

void fail(ErrorKind kind, const ErrorFacts& facts, const std::string& msg) { throw KilnError(kind, facts.op + ": " + msg, facts); }

void fail_arg(ErrorKind kind, const std::string& op, const std::string& argument, const std::string& expected, const std::string& got) {
  std::string what = argument.empty() ? "" : "argument '" + argument + "' ";
  throw KilnError(kind, op + ": " + what + "expected " + expected + ", got " + got, {op, argument, expected, got});
}

void throw_dtype_error(const char* op, DType got, const char* expected) { fail_arg(ErrorKind::DType, op, "", expected, dtype_name(got)); }

bool TensorArg::is_contiguous() const {
  int64_t expected = 1;
  for (int d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

const TensorArg& KernelCall::in(int i) const {
  if (i >= n_inputs) fail(ErrorKind::Internal, name, "missing input " + std::to_string(i));
  return inputs[i];
}
TensorArg& KernelCall::out(int i) {
  if (i >= n_outputs) fail(ErrorKind::Internal, name, "missing output " + std::to_string(i));
  return outputs[i];
}
double KernelCall::attr(int i) const {
  if (i >= n_attrs) fail(ErrorKind::Internal, name, "missing attribute " + std::to_string(i));
  return attrs[i];
}
int64_t KernelCall::int_attr(int i) const { return (int64_t)attr(i); }

}  // namespace kiln
