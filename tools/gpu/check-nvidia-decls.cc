// Checks Kiln's own declarations of cuBLASLt and cuDNN (native/cuda/cublaslt_api.h,
// native/cuda/cudnn_api.h) against NVIDIA's real headers, at compile time: every enum value Kiln
// declared equals the header's, every enum type has the header's size, every function Kiln calls
// has exactly the header's signature (written with the declared parameter types, evaluated where
// they name the header's types), and every struct Kiln reads has the header's size and field
// offsets. A wrong value would otherwise compute garbage silently. Compiled (-fsyntax-only) by
// tools/gpu/check-nvidia-decls.sh on the GPU machine, where the headers are.
#include <cstddef>
#include <type_traits>
#include <cublasLt.h>
#include <cudnn.h>
#include "cublaslt_api.h"
#include "cudnn_api.h"

namespace lt = kiln::nvidia::cublaslt;
namespace dnn = kiln::nvidia::cudnn;

#define KILN_CHECK_ENUM(ns, T) static_assert(sizeof(ns::T) == sizeof(::T), #T ": Kiln's declaration has another size than the header's");
#define KILN_CHECK_VALUE(ns, T, name, v)                                                                       \
  static_assert((long long)ns::name == (long long)(::name), #name ": Kiln's value differs from the header's"); \
  static_assert(std::is_same<typename std::remove_cv<decltype(::name)>::type, ::T>::value, #name ": not a " #T " in the header");
#define KILN_CHECK_FUNCTION(name, ret, params) \
  static_assert(std::is_same<decltype(&::name), ret(*) params>::value, #name ": Kiln's signature differs from the header's");
#define KILN_CHECK_FIELD(ns, S, field)                                                                                   \
  static_assert(sizeof(ns::S) == sizeof(::S), #S ": Kiln's declaration has another size than the header's");             \
  static_assert(offsetof(ns::S, field) == offsetof(::S, field), #S "." #field ": at another offset than in the header"); \
  static_assert(sizeof(((ns::S*)nullptr)->field) == sizeof(((::S*)nullptr)->field), #S "." #field ": another size than in the header");

#define KILN_CHECK_LT_ENUM(T) KILN_CHECK_ENUM(lt, T)
#define KILN_CHECK_LT_VALUE(T, name, v) KILN_CHECK_VALUE(lt, T, name, v)
#define KILN_CHECK_LT_FIELD(S, field) KILN_CHECK_FIELD(lt, S, field)
KILN_CUBLASLT_ENUMS(KILN_CHECK_LT_ENUM)
KILN_CUBLASLT_VALUES(KILN_CHECK_LT_VALUE)
KILN_CUBLASLT_FUNCTIONS(KILN_CHECK_FUNCTION)
KILN_CUBLASLT_STRUCT_FIELDS(KILN_CHECK_LT_FIELD)

#define KILN_CHECK_DNN_ENUM(T) KILN_CHECK_ENUM(dnn, T)
#define KILN_CHECK_DNN_VALUE(T, name, v) KILN_CHECK_VALUE(dnn, T, name, v)
#define KILN_CHECK_DNN_FIELD(S, field) KILN_CHECK_FIELD(dnn, S, field)
KILN_CUDNN_ENUMS(KILN_CHECK_DNN_ENUM)
KILN_CUDNN_VALUES(KILN_CHECK_DNN_VALUE)
KILN_CUDNN_FUNCTIONS(KILN_CHECK_FUNCTION)
KILN_CUDNN_STRUCT_FIELDS(KILN_CHECK_DNN_FIELD)

// The number of checks, for the script's summary line.
#define KILN_COUNT(...) +1
constexpr int kValues = 0 KILN_CUBLASLT_VALUES(KILN_COUNT) KILN_CUDNN_VALUES(KILN_COUNT);
constexpr int kFunctions = 0 KILN_CUBLASLT_FUNCTIONS(KILN_COUNT) KILN_CUDNN_FUNCTIONS(KILN_COUNT);
constexpr int kFields = 0 KILN_CUBLASLT_STRUCT_FIELDS(KILN_COUNT) KILN_CUDNN_STRUCT_FIELDS(KILN_COUNT);
