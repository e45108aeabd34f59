// The addon's functions for the 'nccl' process-group backend (nccl_binding.cc), added to its exports.
#pragma once
#include <napi.h>

namespace kiln { namespace cuda {

void export_nccl_api(Napi::Env env, Napi::Object exports);

}}  // namespace kiln::cuda
