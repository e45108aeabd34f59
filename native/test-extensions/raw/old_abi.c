/* An extension that says it was built against ABI version 0 (an older Kiln): refused at load. */
#include "kiln/extension/abi.h"

uint32_t kiln_extension_abi_version(void) { return 0; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  (void)api;
  (void)registration;
  return 0;
}
