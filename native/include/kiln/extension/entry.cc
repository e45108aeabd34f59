// The entry point of an extension library written with kiln/extension.h: the two C functions
// Kiln looks for when it loads the library (kiln/extension/abi.h). kiln_add_extension (Kiln's
// CMake package) compiles this file into every extension; add it yourself when building otherwise.
#include "kiln/extension.h"

extern "C" KILN_EXTENSION_EXPORT uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }

extern "C" KILN_EXTENSION_EXPORT int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  // Kiln checked the version; the table must hold every function this library was built to call
  if (api == nullptr || api->size < sizeof(kiln_api)) return KILN_REGISTER_NEEDS_NEWER_KILN;
  for (const auto& r : kiln::ext::detail::registrations())
    if (api->register_kernel(registration, r.device_type, r.name, r.fn, r.input_names) != 0) return 1;
  return 0;
}
