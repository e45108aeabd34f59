/* Offers a CPU kernel named 'add', which is one of Kiln's own: refused, and nothing is registered
 * (not even its other kernel). */
#include "kiln/extension/abi.h"

static int noop(const kiln_call* call) {
  (void)call;
  return 0;
}

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  api->register_kernel(registration, KILN_DEVICE_CPU, "ext_name_taken_first", noop, NULL);
  return api->register_kernel(registration, KILN_DEVICE_CPU, "add", noop, NULL);
}
