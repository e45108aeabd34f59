// KILN_VECTOR_CLONES marks a CPU loop worth compiling for the wider vector units: the addon is built
// for x86-64-v2 (SSE4.2, no FMA), and this makes GCC emit clones for x86-64-v4 (AVX-512) and v3
// (AVX2 + FMA) besides the baseline, one of which the dynamic loader picks for the processor (an
// ifunc, resolved once). `flatten` inlines every call in the function, so the clone's instruction
// set reaches the whole loop body; `noinline` keeps the function a call (a clone is called through
// its resolver anyway). Use it on functions that run a whole loop (a row, a plane), not per element.
// (native/cpu/focal_row.h has its own list, which its stand-alone benchmark can narrow.)
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KILN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten, noinline))
#else
#define KILN_VECTOR_CLONES
#endif
