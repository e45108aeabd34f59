// The part of NCCL's C API that Kiln calls (communicators, the five collectives, errors), declared
// here rather than included: the addon builds on machines without NCCL's headers and opens
// libnccl.so.2 at run time (library_loader.h), as it does cuBLASLt and cuDNN (cudnn_api.h says
// why). These declarations are NCCL 2's stable ABI: the types below have kept their values since
// NCCL 2.10 (ncclAvg, the newest value used here, came in 2.10), and the calls their signatures.
#pragma once
#include <cstddef>
#include <cuda_runtime_api.h>   // cudaStream_t
#include "nvidia_decls.h"

namespace kiln { namespace nvidia { namespace nccl {

struct ncclComm;
typedef ncclComm* ncclComm_t;
constexpr int NCCL_UNIQUE_ID_BYTES = 128;
struct ncclUniqueId {
  char internal[NCCL_UNIQUE_ID_BYTES];
};

#define KILN_NCCL_ENUMS(X) X(ncclResult_t) X(ncclRedOp_t) X(ncclDataType_t)

// X(enum type, name, value)
#define KILN_NCCL_VALUES(X)                  \
  X(ncclResult_t, ncclSuccess, 0)            \
  X(ncclResult_t, ncclUnhandledCudaError, 1) \
  X(ncclResult_t, ncclSystemError, 2)        \
  X(ncclResult_t, ncclInternalError, 3)      \
  X(ncclResult_t, ncclInvalidArgument, 4)    \
  X(ncclResult_t, ncclInvalidUsage, 5)       \
  X(ncclResult_t, ncclRemoteError, 6)        \
  X(ncclResult_t, ncclInProgress, 7)         \
  X(ncclRedOp_t, ncclSum, 0)                 \
  X(ncclRedOp_t, ncclMax, 2)                 \
  X(ncclRedOp_t, ncclMin, 3)                 \
  X(ncclRedOp_t, ncclAvg, 4)

// X(name, return type, (parameter types))
#define KILN_NCCL_FUNCTIONS(X)                                                                                        \
  X(ncclGetVersion, ncclResult_t, (int*))                                                                             \
  X(ncclGetUniqueId, ncclResult_t, (ncclUniqueId*))                                                                   \
  X(ncclCommInitRank, ncclResult_t, (ncclComm_t*, int, ncclUniqueId, int))                                            \
  X(ncclCommDestroy, ncclResult_t, (ncclComm_t))                                                                      \
  X(ncclCommAbort, ncclResult_t, (ncclComm_t))                                                                        \
  X(ncclCommGetAsyncError, ncclResult_t, (ncclComm_t, ncclResult_t*))                                                 \
  X(ncclGetErrorString, const char*, (ncclResult_t))                                                                  \
  X(ncclAllReduce, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t)) \
  X(ncclBroadcast, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t))         \
  X(ncclAllGather, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t))              \
  X(ncclReduceScatter, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t))

KILN_NCCL_ENUMS(KILN_DECLARE_ENUM)
KILN_NCCL_VALUES(KILN_DECLARE_VALUE)

struct Api {
  KILN_NCCL_FUNCTIONS(KILN_DECLARE_FUNCTION)
};

}}}  // namespace kiln::nvidia::nccl
