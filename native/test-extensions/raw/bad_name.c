/* Offers a kernel whose name is not snake_case: refused. */
#include "kiln/extension/abi.h"

static int noop(const kiln_call* call) {
  (void)call;
  return 0;
}

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  return api->register_kernel(registration, KILN_DEVICE_CPU, "Bad-Name", noop, NULL);
}
