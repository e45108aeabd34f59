// Extensions: kernels from libraries built outside Kiln, loaded while the process runs and called
// through the C ABI of kiln/extension/abi.h (never through Kiln's C++ types). Each device addon
// exports loadExtension(path), which opens the library (once per process), checks the ABI version
// it was built with, and appends the kernels it offers for this device to the device's kernel
// table, where launch() finds them as it finds Kiln's own.
#pragma once
#include <napi.h>
#include "kiln/kernel.h"

namespace kiln {

// What a device addon gives extensions besides the generic parts in core/extensions.cc. The
// functions never throw.
struct ExtensionDevice {
  int32_t device_type = KILN_DEVICE_CPU;
  // Scratch memory from the device's caching allocator; null when the device is out of memory.
  void* (*workspace_alloc)(int device_index, size_t bytes) = nullptr;
  void (*workspace_free)(int device_index, void* ptr, size_t bytes) = nullptr;
  // The device's parallel loop over [0, n) (the CPU's thread pool; CUDA runs it inline).
  void (*parallel_for)(int64_t n, int64_t grain, kiln_range_fn body, void* context) = nullptr;
};

// Adds loadExtension(path) and extensionAbiVersion to `exports`. loadExtension returns
// { kernels: [name, id][], offered: [deviceType, name][] }: the kernels registered on this device,
// and every kernel the library offers, for any device. Failures are errors of kind 'extension'.
void export_extension_loader(Napi::Env env, Napi::Object exports, const ExtensionDevice& device);

}  // namespace kiln
