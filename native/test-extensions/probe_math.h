// The probe extension's formula, written once for both devices (KILN_HD).
#pragma once
#include "kiln/dtype.h"
#include "kiln/hd.h"

namespace probe {

// y = x * s, computed in the storage type's compute type (float for the half types).
template <typename T> KILN_HD void scale(const T* x, T* y, double s) {
  using C = kiln::compute_t<T>;
  kiln::store(y, kiln::load(x) * (C)s);
}

}  // namespace probe
