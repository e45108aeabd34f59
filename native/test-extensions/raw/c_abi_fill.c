/* A working extension in plain C, against the ABI header alone (no C++ helper): CPU kernels only.
 *   ext_c_fill(out; value)     writes `value` into every element of a float32 or float64 output
 *   ext_c_silent_failure()     returns nonzero without reporting an error (an extension bug: Kiln
 *                              raises an InternalError that says so)
 *   ext_c_facts(input)         reports a ShapeError by its facts only (argument, expected, got)
 */
#include "kiln/extension/abi.h"

/* element i of a view, in row-major order of its shape */
static int64_t element_offset(const kiln_tensor* t, int64_t i) {
  int64_t off = 0;
  int d;
  for (d = t->ndim - 1; d >= 0; --d) {
    off += (i % t->shape[d]) * t->strides[d];
    i /= t->shape[d];
  }
  return off;
}

static int fill(const kiln_call* call) {
  const kiln_tensor* out = &call->outputs[0];
  double v = call->attrs[0];
  int64_t i;
  if (out->dtype != KILN_FLOAT32 && out->dtype != KILN_FLOAT64) {
    kiln_error e = {KILN_ERROR_DTYPE, "out", "float32 or float64", "another dtype", NULL};
    call->api->set_error(call, &e);
    return 1;
  }
  for (i = 0; i < out->numel; ++i) {
    if (out->dtype == KILN_FLOAT32) ((float*)out->data)[element_offset(out, i)] = (float)v;
    else ((double*)out->data)[element_offset(out, i)] = v;
  }
  return 0;
}

static int silent_failure(const kiln_call* call) {
  (void)call;
  return 3;
}

static int facts(const kiln_call* call) {
  kiln_error e = {KILN_ERROR_SHAPE, "input", "a 2-D tensor", "a 1-D tensor", NULL};
  call->api->set_error(call, &e);
  return 1;
}

uint32_t kiln_extension_abi_version(void) { return KILN_EXTENSION_ABI_VERSION; }
int kiln_extension_register(const kiln_api* api, kiln_registration* registration) {
  int failed = 0;
  failed |= api->register_kernel(registration, KILN_DEVICE_CPU, "ext_c_fill", fill, NULL);
  failed |= api->register_kernel(registration, KILN_DEVICE_CPU, "ext_c_silent_failure", silent_failure, NULL);
  failed |= api->register_kernel(registration, KILN_DEVICE_CPU, "ext_c_facts", facts, "input");
  return failed;
}
