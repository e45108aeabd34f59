/* An extension built against a later ABI version than this Kiln's: refused at load. */
#include "kiln/extension/abi.h"

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION + 1; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  (void)api;
  (void)registration;
  return 0;
}
