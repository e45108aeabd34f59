// What both device addons share: the kernel table exported to JS and the generic launch entry.
#pragma once
#include <napi.h>
#include "kiln/kernel.h"

namespace kiln {

// Device hooks around every launch (the CUDA addon selects the device and checks for errors).
struct DeviceHooks {
  void (*before_launch)(KernelCall&) = nullptr;
  void (*after_launch)(KernelCall&) = nullptr;
};

// Adds kernelNames(), setArgBuffer(f64), launch(id) to `exports`.
void export_kernel_api(Napi::Env env, Napi::Object exports, DeviceHooks hooks);

// Throws `err` into JS as an Error whose `kind` property names its ErrorKind.
Napi::Error to_js_error(Napi::Env env, const KilnError& err);
Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& msg);

}  // namespace kiln
