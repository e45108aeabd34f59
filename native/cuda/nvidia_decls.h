// How cublaslt_api.h and cudnn_api.h turn their X-macro lists into declarations (in their own
// namespace): an enum type as an int-sized enum, a value as a constant of it, an entry point as a
// function pointer member of the library's Api struct (filled by dlsym).
#pragma once

#define KILN_DECLARE_ENUM(T) enum T : int {};
#define KILN_DECLARE_VALUE(T, name, value) constexpr T name = T(value);
#define KILN_DECLARE_FUNCTION(name, ret, params) ret(*name) params = nullptr;
