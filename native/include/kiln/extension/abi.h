/* The C ABI between Kiln and its extensions: the only thing a separately built extension library
 * and Kiln's device addons share. Plain C: fixed-size integers, plain structs and function
 * pointers, so that an extension built by another compiler, another C++ standard library or against
 * another Kiln release cannot misread Kiln's memory. No C++ type (std::string, an exception,
 * Kiln's internal KernelCall) ever crosses it.
 *
 * How an extension is loaded (native/core/extensions.cc is Kiln's side):
 *
 *   1. Kiln opens the library and calls kiln_extension_abi_version(). A version other than
 *      KILN_EXTENSION_ABI_VERSION is refused (a typed error that says what to rebuild) before
 *      anything else of the library is called.
 *   2. Kiln calls kiln_extension_register(api, registration) once per device addon (CPU, CUDA).
 *      The extension calls api->register_kernel for each of its kernels, for every device it has
 *      kernels for; Kiln keeps those of api->device_type and notes the others.
 *   3. A launch of a registered kernel calls it with a kiln_call: its tensors, attributes, stream,
 *      and the api table for errors, workspace memory and (CPU) Kiln's thread pool. The kernel
 *      returns 0, or nonzero after reporting its error with api->set_error.
 *
 * Compatibility rules: a released KILN_EXTENSION_ABI_VERSION never changes meaning. Fields may only
 * be appended to kiln_api (its `size` says how many there are), and an extension checks that the
 * table it receives is at least as large as the one it was built against. Anything else is a new
 * ABI version, and extensions are rebuilt.
 */
#ifndef KILN_EXTENSION_ABI_H
#define KILN_EXTENSION_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_EXTENSION_ABI_VERSION 1

/* The most dimensions a tensor argument has (Kiln's MAX_DIMS). */
#define KILN_MAX_DIMS 12

/* Device types. */
#define KILN_DEVICE_CPU 0
#define KILN_DEVICE_CUDA 1

/* Element types: the codes of packages/tensor/src/dtype.ts and kiln::DType. */
#define KILN_FLOAT32 0
#define KILN_FLOAT64 1
#define KILN_INT32 2
#define KILN_INT64 3
#define KILN_BOOL 4
#define KILN_FLOAT16 5
#define KILN_BFLOAT16 6

/* Error kinds: each becomes the JS error class of the same name (ShapeError, DTypeError, ...). */
#define KILN_ERROR_SHAPE 0
#define KILN_ERROR_DTYPE 1
#define KILN_ERROR_DEVICE 2
#define KILN_ERROR_VALUE 3
#define KILN_ERROR_CUDA 4
#define KILN_ERROR_MEMORY 5
#define KILN_ERROR_INTERNAL 6

/* One tensor argument: a strided view, already checked by Kiln against the storage it views. */
typedef struct kiln_tensor {
  void* data;                       /* address of element [0, 0, ...] (the view's offset applied) */
  int32_t dtype;                    /* KILN_FLOAT32, ... */
  int32_t ndim;                     /* 0 .. KILN_MAX_DIMS */
  int64_t numel;                    /* product of shape[0 .. ndim) */
  int64_t shape[KILN_MAX_DIMS];
  int64_t strides[KILN_MAX_DIMS];   /* in elements; 0 for broadcast dimensions, may be negative */
} kiln_tensor;

/* Where a CUDA kernel reports a bad value it found on the device (it cannot return an error): a
 * slot in host-mapped memory that Kiln reads at the next synchronisation and raises as a
 * ValueError naming the kernel and the argument (kiln/device_error.h has the device functions). */
typedef struct kiln_device_error {
  unsigned long long kernel;   /* 0: no error; else the reporting kernel's kernel_id + 1 */
  long long value;             /* the offending value */
  long long lo, hi;            /* the valid range [lo, hi] */
  long long arg;               /* which input (index into the kernel's inputs) */
  int is_float;                /* the value and range are in fvalue / flo / fhi instead */
  double fvalue, flo, fhi;
  long long detail;            /* a fact of the kernel's own for its wording (Kiln's KILN_KERNEL_WORDED), else 0 */
} kiln_device_error;

/* A kernel's failure. Every string may be NULL; Kiln copies them before set_error returns. The
 * facts (argument, expected, got) become the JS error's fields. */
typedef struct kiln_error {
  int32_t kind;            /* KILN_ERROR_SHAPE, ... */
  const char* argument;    /* the argument at fault, by its name in the op's API ("offset") */
  const char* expected;    /* what was expected of it ("4 dimensions [N, 2 G kh kw, OH, OW]") */
  const char* got;         /* what was given ("[2, 18, 5]") */
  /* The whole message, by convention "op: what is wrong"; NULL: Kiln words it from the facts as
   * "op: argument 'argument' expected <expected>, got <got>". */
  const char* message;
} kiln_error;

typedef struct kiln_api kiln_api;
/* Opaque: Kiln's state of one call, and of one registration. */
typedef struct kiln_call_state kiln_call_state;
typedef struct kiln_registration kiln_registration;

/* One kernel call. Valid only while the kernel runs. */
typedef struct kiln_call {
  const char* name;            /* the op's name, as registered */
  const kiln_api* api;         /* the table of the device running the call */
  kiln_call_state* state;      /* Kiln's; pass the call back to the api's functions */
  int32_t kernel_id;           /* this kernel's id in the device's table (device errors report it) */
  int32_t device_type;         /* KILN_DEVICE_CPU or KILN_DEVICE_CUDA */
  int32_t device_index;        /* the CUDA device (current when the kernel is called); 0 on the CPU */
  int32_t n_inputs, n_outputs, n_attrs;
  const kiln_tensor* inputs;   /* [n_inputs] */
  const kiln_tensor* outputs;  /* [n_outputs]; the kernel writes through their data pointers */
  const double* attrs;         /* [n_attrs]: numeric attributes in the order TypeScript passed them */
  void* stream;                /* CUDA: the device's cudaStream_t, which every kernel must use; CPU: NULL */
  kiln_device_error* device_error;   /* CUDA: the error slot (host-mapped); CPU: NULL */
} kiln_call;

/* A kernel: 0 on success; nonzero after calling call->api->set_error (Kiln raises it in JS).
 * It must not throw (C++ exceptions do not cross the ABI) and must not keep `call`. */
typedef int (*kiln_kernel_fn)(const kiln_call* call);

/* A piece of a parallel loop: handles the indices [begin, end). Must not throw. */
typedef void (*kiln_range_fn)(void* context, int64_t begin, int64_t end);

/* What Kiln's device addon gives an extension. Fields are only ever appended (see `size`). */
struct kiln_api {
  uint32_t abi_version;        /* KILN_EXTENSION_ABI_VERSION of the Kiln that made the table */
  uint32_t size;               /* sizeof(kiln_api) in that Kiln: the table holds every field below it */
  int32_t device_type;         /* the device whose addon made the table */
  const char* kiln_version;    /* the Kiln release, e.g. "0.1.0" (for messages) */

  /* Registration, only inside kiln_extension_register. Offers `fn` as the kernel of op `name`
   * (snake_case: [a-z0-9_], starting with a letter) on `device_type`; `input_names` (may be
   * NULL) names the inputs, comma-separated, for errors found on the device. Kiln copies the
   * strings. Returns 0, or nonzero for an argument it cannot read (a NULL name or fn). */
  int (*register_kernel)(kiln_registration* registration, int32_t device_type, const char* name, kiln_kernel_fn fn, const char* input_names);

  /* Records the call's error (the kernel then returns nonzero). Never fails. */
  void (*set_error)(const kiln_call* call, const kiln_error* error);

  /* Scratch memory from the device's caching allocator (CUDA: device memory, ordered on the
   * call's stream), at least `bytes` long and aligned to 64 bytes; NULL when the device is out of
   * memory. Give it back with workspace_free and the same `bytes` before the kernel returns; the
   * block is reused by later work on the same stream, so a CUDA kernel may free it right after
   * queuing the work that uses it. */
  void* (*workspace_alloc)(const kiln_call* call, size_t bytes);
  void (*workspace_free)(const kiln_call* call, void* ptr, size_t bytes);

  /* Runs body(context, begin, end) over pieces of [0, n) on Kiln's CPU threads (pieces of at
   * least `grain` indices; a small n runs inline on the calling thread) and returns when all are
   * done. The CUDA addon runs the whole range inline. */
  void (*parallel_for)(int64_t n, int64_t grain, kiln_range_fn body, void* context);
};

/* The two functions an extension library exports (kiln/extension/entry.cc defines them for
 * extensions written with kiln/extension.h). */
#if defined(_WIN32)
#define KILN_EXTENSION_EXPORT __declspec(dllexport)
#else
#define KILN_EXTENSION_EXPORT __attribute__((visibility("default")))
#endif

/* The KILN_EXTENSION_ABI_VERSION the library was built with. Its signature never changes. */
KILN_EXTENSION_EXPORT uint32_t kiln_extension_abi_version(void);

/* Registers the library's kernels through api->register_kernel; 0 on success. Returns
 * KILN_REGISTER_NEEDS_NEWER_KILN when `api` is smaller than the table the library was built
 * against (built against a later Kiln release of the same ABI). */
#define KILN_REGISTER_NEEDS_NEWER_KILN 2
KILN_EXTENSION_EXPORT int kiln_extension_register(const kiln_api* api, kiln_registration* registration);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* KILN_EXTENSION_ABI_H */
