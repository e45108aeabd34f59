#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include "kiln/device_error.h"
#include "kiln/kernel.h"

namespace kiln {

namespace {
// The device's kernel table. It grows while the process runs (an extension's kernels are appended
// when it loads) and launches read it on every thread without a lock: entries live in a fixed
// array that never moves, an entry is complete before `count` is raised (release), and readers use
// only entries below the count they read (acquire). Appends are serialised by a mutex. Statics are
// function-local: registrars in other translation units may run before this file's statics.
struct Entry {
  const char* name;
  KernelFn fn;
  const char* inputs;
  DeviceErrorWording wording;    // words what the inputs should hold (KILN_KERNEL_WORDED), else null
  kiln_kernel_fn extension_fn;   // an extension's kernel (fn is then its trampoline), else null
  const char* owner;             // the extension library that registered it, else null (built in)
};
Entry* entries() {
  static Entry e[kMaxKernels];
  return e;
}
std::atomic<int>& count() {
  static std::atomic<int> n{0};
  return n;
}
std::mutex& append_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

int add_kernel(const char* name, KernelFn fn, const char* inputs, kiln_kernel_fn extension_fn, const char* owner, DeviceErrorWording wording) {
  std::lock_guard<std::mutex> lock(append_mutex());
  int id = count().load(std::memory_order_relaxed);
  if (id >= kMaxKernels) return -1;
  entries()[id] = Entry{name, fn, inputs, wording, extension_fn, owner};
  count().store(id + 1, std::memory_order_release);
  return id;
}

KernelRegistrar::KernelRegistrar(const char* name, KernelFn fn, const char* inputs, DeviceErrorWording wording) {
  if (add_kernel(name, fn, inputs, nullptr, nullptr, wording) < 0) {
    // only reachable by raising the number of built-in kernels past kMaxKernels
    std::fprintf(stderr, "kiln: the kernel table is full (%d kernels): raise kMaxKernels\n", kMaxKernels);
    std::abort();
  }
}
int kernel_count() { return count().load(std::memory_order_acquire); }
const char* kernel_name(int id) { return entries()[id].name; }
KernelFn kernel_fn(int id) { return entries()[id].fn; }
kiln_kernel_fn kernel_extension_fn(int id) { return entries()[id].extension_fn; }
const char* kernel_owner(int id) { return entries()[id].owner; }

int find_kernel(const char* name) {
  int n = kernel_count();
  for (int id = 0; id < n; ++id)
    if (std::strcmp(entries()[id].name, name) == 0) return id;
  return -1;
}

std::string kernel_input_arg(int id, int arg) {
  const char* names = id >= 0 && id < kernel_count() ? entries()[id].inputs : nullptr;
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
  if (id >= 0 && id < kernel_count() && entries()[id].wording) return entries()[id].wording(e);
  if (e.is_float) return "a value in [" + std::to_string(e.flo) + ", " + std::to_string(e.fhi) + "]";
  return "a value in [" + std::to_string(e.lo) + ", " + std::to_string(e.hi) + "]";
}

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
