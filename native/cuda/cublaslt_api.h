// The part of cuBLASLt's C API that Kiln calls, declared here rather than included: the addon
// builds wherever nvcc is (cuBLAS's headers need not be installed) and loads the library at run
// time (library_loader.h), so it stays optional. Each list below is an X-macro, expanded once here
// (in namespace kiln::nvidia::cublaslt) and once by tools/gpu/check-nvidia-decls.cc against the
// real <cublasLt.h>, which static_asserts every value, every type's size and every signature:
// a wrong enum value would silently compute garbage. Values are those of cuBLAS 12 and 13.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>   // cudaStream_t
#include "nvidia_decls.h"
#include <library_types.h>      // cudaDataType_t (part of the CUDA runtime's headers)

// The enum types (all int-sized in C).
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUBLASLT_ENUMS(X)                                                                   \
  X(cublasStatus_t) X(cublasComputeType_t) X(cublasOperation_t) X(cublasLtMatmulDescAttributes_t) \
  X(cublasLtMatrixLayoutAttribute_t) X(cublasLtMatmulPreferenceAttributes_t) X(cublasLtEpilogue_t) \
  X(cublasLtReductionScheme_t)
// clang-format on

// X(enum type, name, value). Attribute payloads: TRANSA/TRANSB int32_t, EPILOGUE uint32_t,
// BIAS_POINTER const void*, BATCH_COUNT int32_t, STRIDED_BATCH_OFFSET int64_t (elements),
// MAX_WORKSPACE_BYTES uint64_t, REDUCTION_SCHEME_MASK and MIN_ALIGNMENT_* uint32_t.
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUBLASLT_VALUES(X)                                                        \
  X(cublasStatus_t, CUBLAS_STATUS_SUCCESS, 0)                                          \
  X(cublasStatus_t, CUBLAS_STATUS_NOT_INITIALIZED, 1)                                  \
  X(cublasStatus_t, CUBLAS_STATUS_ALLOC_FAILED, 3)                                     \
  X(cublasStatus_t, CUBLAS_STATUS_INVALID_VALUE, 7)                                    \
  X(cublasStatus_t, CUBLAS_STATUS_ARCH_MISMATCH, 8)                                    \
  X(cublasStatus_t, CUBLAS_STATUS_EXECUTION_FAILED, 13)                                \
  X(cublasStatus_t, CUBLAS_STATUS_INTERNAL_ERROR, 14)                                  \
  X(cublasStatus_t, CUBLAS_STATUS_NOT_SUPPORTED, 15)                                   \
  X(cublasComputeType_t, CUBLAS_COMPUTE_32F, 68)                                       \
  X(cublasComputeType_t, CUBLAS_COMPUTE_32F_FAST_TF32, 77)                             \
  X(cublasComputeType_t, CUBLAS_COMPUTE_64F, 70)                                       \
  X(cublasOperation_t, CUBLAS_OP_N, 0)                                                 \
  X(cublasOperation_t, CUBLAS_OP_T, 1)                                                 \
  X(cublasLtMatmulDescAttributes_t, CUBLASLT_MATMUL_DESC_TRANSA, 3)                    \
  X(cublasLtMatmulDescAttributes_t, CUBLASLT_MATMUL_DESC_TRANSB, 4)                    \
  X(cublasLtMatmulDescAttributes_t, CUBLASLT_MATMUL_DESC_EPILOGUE, 7)                  \
  X(cublasLtMatmulDescAttributes_t, CUBLASLT_MATMUL_DESC_BIAS_POINTER, 8)              \
  X(cublasLtMatrixLayoutAttribute_t, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, 5)            \
  X(cublasLtMatrixLayoutAttribute_t, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, 6)   \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, 1) \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, 3) \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, 5) \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, 6) \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, 7) \
  X(cublasLtMatmulPreferenceAttributes_t, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, 8) \
  X(cublasLtEpilogue_t, CUBLASLT_EPILOGUE_DEFAULT, 1)                                  \
  X(cublasLtEpilogue_t, CUBLASLT_EPILOGUE_BIAS, 4)                                     \
  X(cublasLtReductionScheme_t, CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, 2)
// clang-format on

// X(name, return type, (parameter types)): the entry points, looked up with dlsym by name.
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUBLASLT_FUNCTIONS(X)                                                                       \
  X(cublasLtGetVersion, size_t, (void))                                                                  \
  X(cublasLtGetStatusString, const char*, (cublasStatus_t))                                              \
  X(cublasLtCreate, cublasStatus_t, (cublasLtHandle_t*))                                                 \
  X(cublasLtDestroy, cublasStatus_t, (cublasLtHandle_t))                                                 \
  X(cublasLtMatmulDescCreate, cublasStatus_t, (cublasLtMatmulDesc_t*, cublasComputeType_t, cudaDataType_t)) \
  X(cublasLtMatmulDescDestroy, cublasStatus_t, (cublasLtMatmulDesc_t))                                   \
  X(cublasLtMatmulDescSetAttribute, cublasStatus_t,                                                      \
    (cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void*, size_t))                         \
  X(cublasLtMatrixLayoutCreate, cublasStatus_t, (cublasLtMatrixLayout_t*, cudaDataType, uint64_t, uint64_t, int64_t)) \
  X(cublasLtMatrixLayoutDestroy, cublasStatus_t, (cublasLtMatrixLayout_t))                               \
  X(cublasLtMatrixLayoutSetAttribute, cublasStatus_t,                                                    \
    (cublasLtMatrixLayout_t, cublasLtMatrixLayoutAttribute_t, const void*, size_t))                      \
  X(cublasLtMatmulPreferenceCreate, cublasStatus_t, (cublasLtMatmulPreference_t*))                       \
  X(cublasLtMatmulPreferenceDestroy, cublasStatus_t, (cublasLtMatmulPreference_t))                       \
  X(cublasLtMatmulPreferenceSetAttribute, cublasStatus_t,                                                \
    (cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void*, size_t))             \
  X(cublasLtMatmulAlgoGetHeuristic, cublasStatus_t,                                                      \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,             \
     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,                    \
     cublasLtMatmulHeuristicResult_t*, int*))                                                            \
  X(cublasLtMatmul, cublasStatus_t,                                                                      \
    (cublasLtHandle_t, cublasLtMatmulDesc_t, const void*, const void*, cublasLtMatrixLayout_t,           \
     const void*, cublasLtMatrixLayout_t, const void*, const void*, cublasLtMatrixLayout_t, void*,       \
     cublasLtMatrixLayout_t, const cublasLtMatmulAlgo_t*, void*, size_t, cudaStream_t))
// clang-format on

// The structs whose layout Kiln relies on, and their fields read or written: X(struct, field).
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUBLASLT_STRUCT_FIELDS(X)                   \
  X(cublasLtMatmulAlgo_t, data)                          \
  X(cublasLtMatmulHeuristicResult_t, algo)               \
  X(cublasLtMatmulHeuristicResult_t, workspaceSize)      \
  X(cublasLtMatmulHeuristicResult_t, state)              \
  X(cublasLtMatmulHeuristicResult_t, wavesCount)
// clang-format on

namespace kiln { namespace nvidia { namespace cublaslt {

KILN_CUBLASLT_ENUMS(KILN_DECLARE_ENUM)
KILN_CUBLASLT_VALUES(KILN_DECLARE_VALUE)

// Opaque handles (pointers to structures the library owns).
typedef struct cublasLtContext* cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque* cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque* cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque* cublasLtMatmulPreference_t;

// Semi-opaque: the caller holds these by value.
struct cublasLtMatmulAlgo_t {
  uint64_t data[8];
};
struct cublasLtMatmulHeuristicResult_t {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
};

// One function pointer per entry point, filled by dlsym (cublaslt.cc).
struct Api {
  KILN_CUBLASLT_FUNCTIONS(KILN_DECLARE_FUNCTION)
};

}}}  // namespace kiln::nvidia::cublaslt
