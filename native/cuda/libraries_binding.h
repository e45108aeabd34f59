// The addon's functions about NVIDIA's libraries (libraries_binding.cc), added to its exports.
#pragma once
#include <napi.h>
#include "nvidia_libraries.h"

namespace kiln { namespace cuda {

// A library's status as JS sees it: { available, enabled, version, path, reason? }.
Napi::Object library_status_to_js(Napi::Env env, const LibraryStatus& s);

void export_library_api(Napi::Env env, Napi::Object exports);

}}  // namespace kiln::cuda
