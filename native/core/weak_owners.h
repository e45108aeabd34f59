// Native memory owned by JS objects, released as soon as a garbage collection has taken the object.
//
// Node runs N-API finalizers on the event loop (it defers them with SetImmediate), so a loop that
// runs synchronously, as a training loop does, never lets them run: the memory of tensors dropped
// without dispose() would pile up until the loop ends. A weak reference, though, is cleared by the
// collection itself. Each addon registers its blocks with their owners here; after any collection
// (seen through a sentinel object that every collection takes), sweep() finds the owners that are
// gone and releases their blocks at once. The registry is process-wide (worker threads allocate
// too) and each entry remembers its environment: only that environment's thread reads its
// references, and when a worker's environment ends its blocks are released with it.
#pragma once
#include <napi.h>
#include <cstdint>

namespace kiln {

using ReleaseFn = void (*)(void* block, intptr_t arg);

// Tracks `block` until untrack(): `release(block, arg)` runs if `owner` is collected first.
void track_owner(napi_env env, napi_value owner, void* block, intptr_t arg, ReleaseFn release);
// Stops tracking `block` (its owner released it explicitly); false if it was not tracked.
bool untrack_owner(void* block);
// True once per garbage collection that ran since the last call in this environment.
bool collected_since_last_check(napi_env env);
// Releases the blocks of `env` whose owners were collected; returns how many.
size_t sweep_collected(napi_env env);
// Exports sweep() -> number of blocks released (after a forced collection, before an out-of-memory
// error), and registers the environment's teardown.
void export_sweep(Napi::Env env, Napi::Object exports);

}  // namespace kiln
