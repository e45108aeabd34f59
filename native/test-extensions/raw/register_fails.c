/* An extension whose registration reports a failure: refused with the code it returned. */
#include "kiln/extension/abi.h"

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  (void)api;
  (void)registration;
  return 7;
}
