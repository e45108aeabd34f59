// The addon's functions for pinned host memory (pinned_binding.cc), added to its exports.
#pragma once
#include <napi.h>

namespace kiln { namespace cuda {

// hostAlloc, hostRelease, copyToDeviceAsync, hostMemoryStats, hostEmptyCache.
void export_pinned_api(Napi::Env env, Napi::Object exports);

// True when `p` lies in pinned memory from hostAlloc: a copy from it is asynchronous, so a copy
// that promised to be complete on return must wait for the stream (CopyToDevice).
bool is_pinned_host(const void* p);

}}  // namespace kiln::cuda
