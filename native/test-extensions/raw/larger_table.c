/* An extension of this ABI version built against a later Kiln release whose api table has one
 * more function: it asks for a table that large, as kiln/extension/entry.cc does. */
#include "kiln/extension/abi.h"

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  (void)registration;
  if (api->size < sizeof(kiln_api) + sizeof(void (*)(void))) return KILN_REGISTER_NEEDS_NEWER_KILN;
  return 0;
}
