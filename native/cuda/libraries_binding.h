// The addon's functions about NVIDIA's libraries (libraries_binding.cc), added to its exports.
#pragma once
#include <napi.h>

namespace kiln { namespace cuda {

void export_library_api(Napi::Env env, Napi::Object exports);

}}  // namespace kiln::cuda
