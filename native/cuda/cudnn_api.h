// The part of cuDNN 9's C API that Kiln calls (the legacy convolution API: tensor, filter and
// convolution descriptors, algorithm heuristics and search, forward and both backward passes; and
// the backend (graph) API's descriptors, heuristics, execution plans and execute), declared here
// rather than included, for the reasons given in cublaslt_api.h: the addon builds without cuDNN's
// headers and loads the library at run time. The lists are X-macros that
// tools/gpu/check-nvidia-decls.cc checks against the real <cudnn.h> (values, sizes, signatures).
// Values are those of cuDNN 9 (libcudnn.so.9 checks its major version at load).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime_api.h>   // cudaStream_t
#include "nvidia_decls.h"

// clang-format off: an X-macro table, laid out by hand
#define KILN_CUDNN_ENUMS(X)                                                                            \
  X(cudnnStatus_t) X(cudnnDataType_t) X(cudnnMathType_t) X(cudnnTensorFormat_t) X(cudnnConvolutionMode_t) \
  X(cudnnConvolutionFwdAlgo_t) X(cudnnConvolutionBwdDataAlgo_t) X(cudnnConvolutionBwdFilterAlgo_t)      \
  X(cudnnDeterminism_t) X(cudnnBackendDescriptorType_t) X(cudnnBackendAttributeName_t)                  \
  X(cudnnBackendAttributeType_t) X(cudnnBackendHeurMode_t) X(cudnnBackendNumericalNote_t)               \
  X(cudnnBackendBehaviorNote_t)
// clang-format on

// X(enum type, name, value)
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUDNN_VALUES(X)                                                                   \
  X(cudnnStatus_t, CUDNN_STATUS_SUCCESS, 0)                                                    \
  X(cudnnStatus_t, CUDNN_STATUS_BAD_PARAM, 2000)                                               \
  X(cudnnStatus_t, CUDNN_STATUS_NOT_SUPPORTED, 3000)                                           \
  X(cudnnStatus_t, CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED, 4003)                   \
  X(cudnnStatus_t, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, 4004)                 \
  X(cudnnDataType_t, CUDNN_DATA_FLOAT, 0)                                                      \
  X(cudnnDataType_t, CUDNN_DATA_DOUBLE, 1)                                                     \
  X(cudnnDataType_t, CUDNN_DATA_HALF, 2)                                                       \
  X(cudnnDataType_t, CUDNN_DATA_BFLOAT16, 9)                                                   \
  X(cudnnMathType_t, CUDNN_DEFAULT_MATH, 0)                                                    \
  X(cudnnMathType_t, CUDNN_TENSOR_OP_MATH, 1)                                                  \
  X(cudnnMathType_t, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, 2)                                 \
  X(cudnnMathType_t, CUDNN_FMA_MATH, 3)                                                        \
  X(cudnnTensorFormat_t, CUDNN_TENSOR_NCHW, 0)                                                 \
  X(cudnnConvolutionMode_t, CUDNN_CROSS_CORRELATION, 1)                                        \
  X(cudnnConvolutionFwdAlgo_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, 8)                            \
  X(cudnnConvolutionBwdDataAlgo_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, 6)                   \
  X(cudnnConvolutionBwdFilterAlgo_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, 7)                \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, 1)                      \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_ENGINE_DESCRIPTOR, 2)                           \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, 3)                        \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, 4)                       \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, 5)                   \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, 10)   \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, 11) \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, 12) \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, 15)                  \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, 16)                    \
  X(cudnnBackendDescriptorType_t, CUDNN_BACKEND_TENSOR_DESCRIPTOR, 17)                          \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, 100)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_CONV_MODE, 101)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_DILATIONS, 102)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, 103)                    \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, 104)                     \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, 105)                      \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, 106)                      \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINEHEUR_MODE, 200)                               \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, 201)                    \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINEHEUR_RESULTS, 202)                            \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINECFG_ENGINE, 300)                              \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, 400)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, 401)                  \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, 402)                 \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 700)           \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 701)            \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, 702)       \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, 703)               \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, 704)               \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, 705)               \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, 706)          \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, 707)           \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, 708)      \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, 709)              \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, 710)             \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, 711)             \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, 712)        \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, 713)         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, 714)    \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, 715)           \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, 716)            \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, 717)           \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, 800)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATIONGRAPH_OPS, 801)                            \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, 802)            \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, 900)                         \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_TENSOR_DATA_TYPE, 901)                              \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_TENSOR_DIMENSIONS, 902)                             \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_TENSOR_STRIDES, 903)                                \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_TENSOR_UNIQUE_ID, 906)                              \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, 1000)                      \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, 1001)                   \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, 1003)                       \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, 1300)                        \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, 1301)                           \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, 1303)                        \
  X(cudnnBackendAttributeName_t, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, 1305)                         \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_HANDLE, 0)                                          \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_DATA_TYPE, 1)                                       \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_INT64, 3)                                           \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_FLOAT, 4)                                           \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_DOUBLE, 5)                                          \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_VOID_PTR, 6)                                        \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_CONVOLUTION_MODE, 7)                                \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_HEUR_MODE, 8)                                       \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_NUMERICAL_NOTE, 11)                                 \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_BACKEND_DESCRIPTOR, 15)                             \
  X(cudnnBackendAttributeType_t, CUDNN_TYPE_BEHAVIOR_NOTE, 19)                                  \
  X(cudnnBackendHeurMode_t, CUDNN_HEUR_MODE_INSTANT, 0)                                         \
  X(cudnnBackendHeurMode_t, CUDNN_HEUR_MODE_FALLBACK, 2)                                        \
  X(cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TENSOR_CORE, 0)                           \
  X(cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS, 1)                   \
  X(cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION, 2)           \
  X(cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION, 0)
// clang-format on

// X(name, return type, (parameter types))
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUDNN_FUNCTIONS(X)                                                                          \
  X(cudnnGetVersion, size_t, (void))                                                                     \
  X(cudnnGetCudartVersion, size_t, (void))                                                               \
  X(cudnnGetErrorString, const char*, (cudnnStatus_t))                                                   \
  X(cudnnCreate, cudnnStatus_t, (cudnnHandle_t*))                                                        \
  X(cudnnDestroy, cudnnStatus_t, (cudnnHandle_t))                                                        \
  X(cudnnSetStream, cudnnStatus_t, (cudnnHandle_t, cudaStream_t))                                        \
  X(cudnnCreateTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t*))                              \
  X(cudnnSetTensorNdDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t, cudnnDataType_t, int, const int*, const int*)) \
  X(cudnnDestroyTensorDescriptor, cudnnStatus_t, (cudnnTensorDescriptor_t))                              \
  X(cudnnCreateFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t*))                              \
  X(cudnnSetFilterNdDescriptor, cudnnStatus_t,                                                           \
    (cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t, int, const int*))                    \
  X(cudnnDestroyFilterDescriptor, cudnnStatus_t, (cudnnFilterDescriptor_t))                              \
  X(cudnnCreateConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t*))                    \
  X(cudnnSetConvolution2dDescriptor, cudnnStatus_t,                                                      \
    (cudnnConvolutionDescriptor_t, int, int, int, int, int, int, cudnnConvolutionMode_t, cudnnDataType_t)) \
  X(cudnnSetConvolutionGroupCount, cudnnStatus_t, (cudnnConvolutionDescriptor_t, int))                   \
  X(cudnnSetConvolutionMathType, cudnnStatus_t, (cudnnConvolutionDescriptor_t, cudnnMathType_t))         \
  X(cudnnDestroyConvolutionDescriptor, cudnnStatus_t, (cudnnConvolutionDescriptor_t))                    \
  X(cudnnGetConvolutionForwardAlgorithm_v7, cudnnStatus_t,                                               \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnTensorDescriptor_t, int, int*, cudnnConvolutionFwdAlgoPerf_t*))                                \
  X(cudnnFindConvolutionForwardAlgorithmEx, cudnnStatus_t,                                               \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void*, cudnnFilterDescriptor_t, const void*,          \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void*, int, int*,                            \
     cudnnConvolutionFwdAlgoPerf_t*, void*, size_t))                                                     \
  X(cudnnGetConvolutionForwardWorkspaceSize, cudnnStatus_t,                                              \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnTensorDescriptor_t, cudnnConvolutionFwdAlgo_t, size_t*))                                       \
  X(cudnnConvolutionForward, cudnnStatus_t,                                                              \
    (cudnnHandle_t, const void*, cudnnTensorDescriptor_t, const void*, cudnnFilterDescriptor_t,          \
     const void*, cudnnConvolutionDescriptor_t, cudnnConvolutionFwdAlgo_t, void*, size_t, const void*,   \
     cudnnTensorDescriptor_t, void*))                                                                    \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnStatus_t,                                          \
    (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnTensorDescriptor_t, int, int*, cudnnConvolutionBwdDataAlgoPerf_t*))                            \
  X(cudnnFindConvolutionBackwardDataAlgorithmEx, cudnnStatus_t,                                          \
    (cudnnHandle_t, cudnnFilterDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,          \
     cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, void*, int, int*,                            \
     cudnnConvolutionBwdDataAlgoPerf_t*, void*, size_t))                                                 \
  X(cudnnGetConvolutionBackwardDataWorkspaceSize, cudnnStatus_t,                                         \
    (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnTensorDescriptor_t, cudnnConvolutionBwdDataAlgo_t, size_t*))                                   \
  X(cudnnConvolutionBackwardData, cudnnStatus_t,                                                         \
    (cudnnHandle_t, const void*, cudnnFilterDescriptor_t, const void*, cudnnTensorDescriptor_t,          \
     const void*, cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t, void*, size_t,            \
     const void*, cudnnTensorDescriptor_t, void*))                                                       \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnStatus_t,                                        \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnFilterDescriptor_t, int, int*, cudnnConvolutionBwdFilterAlgoPerf_t*))                          \
  X(cudnnFindConvolutionBackwardFilterAlgorithmEx, cudnnStatus_t,                                        \
    (cudnnHandle_t, cudnnTensorDescriptor_t, const void*, cudnnTensorDescriptor_t, const void*,          \
     cudnnConvolutionDescriptor_t, cudnnFilterDescriptor_t, void*, int, int*,                            \
     cudnnConvolutionBwdFilterAlgoPerf_t*, void*, size_t))                                               \
  X(cudnnGetConvolutionBackwardFilterWorkspaceSize, cudnnStatus_t,                                       \
    (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,      \
     cudnnFilterDescriptor_t, cudnnConvolutionBwdFilterAlgo_t, size_t*))                                 \
  X(cudnnConvolutionBackwardFilter, cudnnStatus_t,                                                       \
    (cudnnHandle_t, const void*, cudnnTensorDescriptor_t, const void*, cudnnTensorDescriptor_t,          \
     const void*, cudnnConvolutionDescriptor_t, cudnnConvolutionBwdFilterAlgo_t, void*, size_t,          \
     const void*, cudnnFilterDescriptor_t, void*))                                                       \
  X(cudnnBackendCreateDescriptor, cudnnStatus_t, (cudnnBackendDescriptorType_t, cudnnBackendDescriptor_t*)) \
  X(cudnnBackendDestroyDescriptor, cudnnStatus_t, (cudnnBackendDescriptor_t))                          \
  X(cudnnBackendFinalize, cudnnStatus_t, (cudnnBackendDescriptor_t))                                   \
  X(cudnnBackendSetAttribute, cudnnStatus_t,                                                             \
    (cudnnBackendDescriptor_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t, int64_t, const void*)) \
  X(cudnnBackendGetAttribute, cudnnStatus_t,                                                             \
    (cudnnBackendDescriptor_t const, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t, int64_t,  \
     int64_t*, void*))                                                                                   \
  X(cudnnBackendExecute, cudnnStatus_t, (cudnnHandle_t, cudnnBackendDescriptor_t, cudnnBackendDescriptor_t))
// clang-format on

// X(struct, field): the algorithm search results, read field by field.
// clang-format off: an X-macro table, laid out by hand
#define KILN_CUDNN_STRUCT_FIELDS(X)                                                            \
  X(cudnnConvolutionFwdAlgoPerf_t, algo) X(cudnnConvolutionFwdAlgoPerf_t, status)               \
  X(cudnnConvolutionFwdAlgoPerf_t, time) X(cudnnConvolutionFwdAlgoPerf_t, memory)               \
  X(cudnnConvolutionFwdAlgoPerf_t, mathType)                                                   \
  X(cudnnConvolutionBwdDataAlgoPerf_t, algo) X(cudnnConvolutionBwdDataAlgoPerf_t, status)       \
  X(cudnnConvolutionBwdDataAlgoPerf_t, time) X(cudnnConvolutionBwdDataAlgoPerf_t, memory)       \
  X(cudnnConvolutionBwdDataAlgoPerf_t, mathType)                                               \
  X(cudnnConvolutionBwdFilterAlgoPerf_t, algo) X(cudnnConvolutionBwdFilterAlgoPerf_t, status)   \
  X(cudnnConvolutionBwdFilterAlgoPerf_t, time) X(cudnnConvolutionBwdFilterAlgoPerf_t, memory)   \
  X(cudnnConvolutionBwdFilterAlgoPerf_t, mathType)
// clang-format on

namespace kiln { namespace nvidia { namespace cudnn {

KILN_CUDNN_ENUMS(KILN_DECLARE_ENUM)
KILN_CUDNN_VALUES(KILN_DECLARE_VALUE)

typedef struct cudnnContext* cudnnHandle_t;
typedef struct cudnnTensorStruct* cudnnTensorDescriptor_t;
typedef struct cudnnFilterStruct* cudnnFilterDescriptor_t;
typedef struct cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;
typedef void* cudnnBackendDescriptor_t;

// One layout for the three kinds of search result, each with its own algorithm enum.
template <typename Algo> struct AlgoPerf {
  Algo algo;
  cudnnStatus_t status;
  float time;        // milliseconds (Find); -1 from the heuristics
  size_t memory;     // workspace bytes
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
using cudnnConvolutionFwdAlgoPerf_t = AlgoPerf<cudnnConvolutionFwdAlgo_t>;
using cudnnConvolutionBwdDataAlgoPerf_t = AlgoPerf<cudnnConvolutionBwdDataAlgo_t>;
using cudnnConvolutionBwdFilterAlgoPerf_t = AlgoPerf<cudnnConvolutionBwdFilterAlgo_t>;

struct Api {
  KILN_CUDNN_FUNCTIONS(KILN_DECLARE_FUNCTION)
};

}}}  // namespace kiln::nvidia::cudnn
