// The x86-64 instruction sets the CPU kernels choose between at run time.
#pragma once

namespace kiln { namespace cpu {

// Ordered: each level includes the ones below it.
enum class Isa : int {
  Baseline = 0,   // x86-64-v2 (SSE4.2): what the addon is compiled for
  Avx2 = 1,       // AVX2 + FMA (x86-64-v3's vector part)
  Avx512 = 2,     // AVX-512 F
};

const char* isa_name(Isa isa);
// The instruction set the kernels use: the best one this processor (and its OS) supports, capped by
// the environment variable KILN_CPU_ISA (baseline, avx2 or avx512; read once) and by cap_isa.
Isa cpu_isa();
// Caps the instruction set at `isa` (at most what the processor supports): the tests run the
// narrower kernels this way. Not for use while kernels run on other threads.
void cap_isa(Isa isa);
// Parses "baseline", "avx2" or "avx512"; false for anything else.
bool parse_isa(const char* name, Isa* isa);

}}  // namespace kiln::cpu
