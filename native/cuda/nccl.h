// NCCL as the 'nccl' process-group backend uses it: libnccl.so.2 loaded once per process on first
// use (library_loader.h's search, which covers pip's nvidia/nccl/lib, where PyTorch's wheels put
// it), communicators made from a unique id the ranks exchanged through their store, collectives
// queued on the device's stream, and a watchdog thread per communicator that aborts it when a
// collective outlives its timeout or NCCL reports an asynchronous error (a dead peer), so that
// nothing waits forever: the queued kernels exit and the failure is reported to JS.
//
// Communicators are created non-blocking (NCCL_COMM_BLOCKING=0 unless the user set it), so that an
// initialisation whose peers never arrive can be aborted at its timeout as well.
#pragma once
#include <cstdint>
#include <string>
#include "nvidia_libraries.h"
#include "nccl_api.h"

namespace kiln { namespace cuda { namespace nccl {
using namespace nvidia::nccl;

LibraryStatus status();

// 128 bytes naming a new communicator (rank 0 makes it; every rank passes it to init).
std::string unique_id();

enum class Collective { AllReduce = 1, Broadcast = 2, AllGather = 3, ReduceScatter = 4 };

// A communicator's handle (an index; 0 is none).
using Handle = int;

// Joins communicator `id` as `rank` of `world` on `device`; waits until every rank has joined, at
// most `timeout_ms` (then aborts it and throws).
Handle init(int world, const std::string& id, int rank, int device, int64_t timeout_ms);

// Queues a collective in place on `count` elements at `address` (all-gather and reduce-scatter:
// `count` is the whole buffer, world size blocks, this rank's block at index rank). Returns its
// sequence number in this communicator (1, 2, ...), watched until done or `timeout_ms` passes.
int64_t launch(Handle h, Collective kind, uintptr_t address, size_t count, int nccl_dtype, int op, int root, int64_t timeout_ms);

// How far the communicator got: the number of its collectives known complete, in order.
int64_t completed(Handle h);

// Why the communicator failed ("" while it works).
std::string failure(Handle h);

// Aborts (failed or unfinished work) or destroys the communicator and forgets the handle.
void abort(Handle h, const std::string& why);
void destroy(Handle h);

}}}  // namespace kiln::cuda::nccl
