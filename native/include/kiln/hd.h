// Marks functions that compile for both devices: the CPU addon (g++) and the CUDA addon (nvcc).
// Every formula in include/kiln/math/ is written once with KILN_HD and called by both.
#pragma once

#if defined(__CUDACC__)
#define KILN_HD __host__ __device__ __forceinline__
#define KILN_DEVICE_CODE 1
#else
#define KILN_HD inline
#define KILN_DEVICE_CODE 0
#endif

// Token pasting for the registration macros (unique static names per line).
#define KILN_CONCAT_(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_(a, b)
