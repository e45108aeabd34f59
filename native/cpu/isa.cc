// Run-time detection of the instruction sets (isa.h).
#include "isa.h"
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace kiln { namespace cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "baseline";
  }
}

bool parse_isa(const char* name, Isa* isa) {
  for (Isa i : {Isa::Baseline, Isa::Avx2, Isa::Avx512}) {
    if (std::strcmp(name, isa_name(i)) == 0) {
      *isa = i;
      return true;
    }
  }
  return false;
}

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc's checks include the OS's support for saving the wider registers (XCR0).
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2 && __builtin_cpu_supports("avx512f")) return Isa::Avx512;
  if (avx2) return Isa::Avx2;
#endif
  return Isa::Baseline;
}

Isa min_isa(Isa a, Isa b) { return (int)a < (int)b ? a : b; }

Isa supported() {
  static const Isa isa = [] {
    Isa found = detect(), cap;
    const char* v = std::getenv("KILN_CPU_ISA");
    return v && parse_isa(v, &cap) ? min_isa(found, cap) : found;
  }();
  return isa;
}

std::atomic<int> g_cap{(int)Isa::Avx512};

}  // namespace

Isa cpu_isa() { return min_isa(supported(), (Isa)g_cap.load(std::memory_order_relaxed)); }
void cap_isa(Isa isa) { g_cap.store((int)isa, std::memory_order_relaxed); }

}}  // namespace kiln::cpu
