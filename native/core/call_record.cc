#include "call_record.h"
#include <cmath>
#if defined(__SSE4_1__)
#include <smmintrin.h>
#endif
#include <string>

namespace kiln {

namespace {

// Doubles carry integers exactly up to 2^53; every size, stride, offset and address must be one.
constexpr double kMaxExact = 9007199254740992.0;   // 2^53

bool exact_int(double v) { return v >= -kMaxExact && v <= kMaxExact && v == std::trunc(v); }

std::string num(double v) {
  if (exact_int(v)) return std::to_string((int64_t)v);
  return std::to_string(v);
}

// Which tensor of the call a message is about: "input 1", "output 0".
std::string which(bool output, int i) { return (output ? "output " : "input ") + std::to_string(i); }

[[noreturn, gnu::cold, gnu::noinline]] void bad(ErrorKind kind, const char* op, bool output, int i, const std::string& msg) {
  fail(kind, op, which(output, i) + " " + msg + " (caught at the native boundary)");
}

// The slow path: reads one tensor record at args[pos] into t, checking field by field so that the
// error names the first field out of range; returns the position after it. Runs only for a record
// the fast path (decode_tensor) refused, to say why.
[[gnu::cold, gnu::noinline]] size_t diagnose_tensor(const double* args, size_t len, size_t pos, const char* op, bool output, int i, TensorArg& t) {
  if (pos + kTensorHeader > len) bad(ErrorKind::Internal, op, output, i, "does not fit in the argument buffer");
  const double code = args[pos], nd = args[pos + 1], base = args[pos + 2], bytes = args[pos + 3], offset = args[pos + 4];
  if (!exact_int(code) || code < 0 || code > (double)DType::BFloat16) bad(ErrorKind::DType, op, output, i, "has an unknown dtype code " + num(code));
  if (!exact_int(nd) || nd < 0 || nd > kMaxDims)
    bad(ErrorKind::Shape, op, output, i, "has " + num(nd) + " dimensions; tensors may have at most " + std::to_string(kMaxDims));
  if (!exact_int(base) || base < 0) bad(ErrorKind::Value, op, output, i, "has an invalid storage address " + num(base));
  if (!exact_int(bytes) || bytes < 0) bad(ErrorKind::Value, op, output, i, "has an invalid storage size " + num(bytes));
  if (!exact_int(offset) || offset < 0) bad(ErrorKind::Shape, op, output, i, "has an invalid storage offset " + num(offset));
  t.dtype = (DType)(int)code;
  t.ndim = (int)nd;
  pos += kTensorHeader;
  if (pos + 2 * (size_t)t.ndim > len) bad(ErrorKind::Internal, op, output, i, "does not fit in the argument buffer");
  const double* shape = args + pos;
  const double* strides = shape + t.ndim;

  // numel, and the lowest and highest element offsets the view reaches (relative to `offset`):
  // sum over dims of (size - 1) * stride, negative strides lowering the low end. All in checked
  // int64 arithmetic: sizes and strides are below 2^53, but their products need not be.
  int64_t numel = 1, lo = 0, hi = 0;
  bool overflow = false, empty = false;
  for (int d = 0; d < t.ndim; ++d) {
    const double s = shape[d], st = strides[d];
    if (!exact_int(s) || s < 0) bad(ErrorKind::Shape, op, output, i, "has an invalid size " + num(s) + " in dimension " + std::to_string(d));
    if (!exact_int(st)) bad(ErrorKind::Shape, op, output, i, "has an invalid stride " + num(st) + " in dimension " + std::to_string(d));
    t.shape[d] = (int64_t)s;
    t.strides[d] = (int64_t)st;
    if (t.shape[d] == 0) empty = true;
    overflow |= __builtin_mul_overflow(numel, t.shape[d], &numel);
  }
  if (empty) numel = 0;
  else {
    for (int d = 0; d < t.ndim; ++d) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(t.shape[d] - 1, t.strides[d], &reach);
      overflow |= reach < 0 ? __builtin_add_overflow(lo, reach, &lo) : __builtin_add_overflow(hi, reach, &hi);
    }
  }
  if (overflow) bad(ErrorKind::Shape, op, output, i, "has a shape and strides whose element count or extent overflows 64 bits");
  t.numel = numel;

  // The view must lie inside its storage: elements offset + lo .. offset + hi, each itemsize bytes.
  const int64_t itemsize = dtype_size(t.dtype), off = (int64_t)offset, nbytes = (int64_t)bytes;
  if (numel > 0) {
    if (base == 0) bad(ErrorKind::Value, op, output, i, "has no storage (a null address) for " + std::to_string(numel) + " elements");
    int64_t first = 0, last = 0, end_byte = 0;
    bool out = __builtin_add_overflow(off, lo, &first) || __builtin_add_overflow(off, hi, &last) || __builtin_mul_overflow(last + 1, itemsize, &end_byte);
    if (out || first < 0 || end_byte > nbytes) {
      bad(ErrorKind::Shape, op, output, i,
          "reaches elements " + std::to_string(first) + ".." + std::to_string(last) + " of its storage, which holds " + std::to_string(nbytes / itemsize) +
              " " + dtype_name(t.dtype) + " elements (" + std::to_string(nbytes) + " bytes): the view does not fit its storage");
    }
  }
  // (an empty view reads and writes nothing: its offset may sit at or past the end of its storage,
  // as a slice at the end does; off * itemsize < 2^56 cannot overflow)
  t.data = reinterpret_cast<char*>((uintptr_t)base) + off * itemsize;
  return pos + 2 * (size_t)t.ndim;
}

// True when every v[0..n) is a whole number within ±2^53 (no NaN, no infinity, no fraction). No
// branch in the loop, and trunc is one instruction with SSE4.1, so a record is checked in a few ns.
inline bool all_whole(const double* v, size_t n) {
#if defined(__SSE4_1__)
  // two doubles at a time: |x| <= 2^53 (false for NaN) and x == trunc(x)
  const __m128d limit = _mm_set1_pd(kMaxExact), sign = _mm_set1_pd(-0.0);
  __m128d ok = _mm_castsi128_pd(_mm_set1_epi64x(-1));
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const __m128d x = _mm_loadu_pd(v + i);
    const __m128d in = _mm_cmple_pd(_mm_andnot_pd(sign, x), limit);
    const __m128d integral = _mm_cmpeq_pd(x, _mm_round_pd(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC));
    ok = _mm_and_pd(ok, _mm_and_pd(in, integral));
  }
  bool all = _mm_movemask_pd(ok) == 3;
  if (i < n) all &= std::fabs(v[i]) <= kMaxExact && v[i] == std::trunc(v[i]);
  return all;
#else
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = v[i];
    bad |= !(std::fabs(x) <= kMaxExact) | (x != std::trunc(x));   // NaN fails the first test
  }
  return bad == 0;
#endif
}

constexpr int8_t kItemSize[] = {4, 8, 4, 8, 1, 2, 2};   // dtype_size by code (kiln/dtype.h's order)

// The fast path of the checks, for the records TypeScript writes every call: the same conditions as
// diagnose_tensor (which then says which one failed), evaluated without building any message.
// Returns false when any check fails; on success fills t and *next.
bool decode_tensor(const double* args, size_t len, size_t pos, TensorArg& t, size_t* next) {
  if (pos + kTensorHeader > len) return false;
  const double* h = args + pos;
  const double ndim = h[1];
  if (!(ndim >= 0 && ndim <= kMaxDims)) return false;
  const size_t fields = kTensorHeader + 2 * (size_t)ndim;   // the whole record: header, shape, strides
  if (pos + fields > len || !all_whole(h, fields)) return false;
  const int64_t code = (int64_t)h[0], nd = (int64_t)ndim, base = (int64_t)h[2], bytes = (int64_t)h[3], off = (int64_t)h[4];
  if ((code < 0) | (code > (int64_t)DType::BFloat16) | (base < 0) | (bytes < 0) | (off < 0)) return false;
  const double* shape = h + kTensorHeader;
  const double* strides = shape + nd;
  int64_t numel = 1, lo = 0, hi = 0;
  bool bad = false, empty = false;
  for (int d = 0; d < (int)nd; ++d) {
    const int64_t sz = (int64_t)shape[d], st = (int64_t)strides[d];
    t.shape[d] = sz;
    t.strides[d] = st;
    bad |= sz < 0;
    empty |= sz == 0;
    bad |= __builtin_mul_overflow(numel, sz, &numel);
    int64_t reach = 0;
    bad |= __builtin_mul_overflow(sz - 1, st, &reach);
    bad |= reach < 0 ? __builtin_add_overflow(lo, reach, &lo) : __builtin_add_overflow(hi, reach, &hi);
  }
  if (bad) return false;
  t.dtype = (DType)code;
  t.ndim = (int)nd;
  t.numel = empty ? 0 : numel;
  const int64_t itemsize = kItemSize[code];
  if (t.numel > 0) {
    int64_t first = 0, last = 0, end_byte = 0;
    if (base == 0 || __builtin_add_overflow(off, lo, &first) || __builtin_add_overflow(off, hi, &last) ||
        __builtin_mul_overflow(last + 1, itemsize, &end_byte) || first < 0 || end_byte > bytes)
      return false;
  }
  t.data = reinterpret_cast<char*>((uintptr_t)base) + off * itemsize;
  *next = pos + kTensorHeader + 2 * (size_t)nd;
  return true;
}

// One tensor: the fast path, or the slow one to raise the error that says what is wrong.
inline size_t decode_or_diagnose(const double* args, size_t len, size_t pos, const char* op, bool output, int i, TensorArg& t) {
  size_t next = 0;
  if (decode_tensor(args, len, pos, t, &next)) return next;
  diagnose_tensor(args, len, pos, op, output, i, t);
  fail(ErrorKind::Internal, op, which(output, i) + " was refused by the native boundary's checks (caught at the native boundary)");
}

[[noreturn, gnu::cold, gnu::noinline]] void bad_count(double v, int max, const char* what, const char* op) {
  fail(ErrorKind::Internal, op, std::string("a call with ") + num(v) + " " + what + " (at most " + std::to_string(max) + ") (caught at the native boundary)");
}

inline int count_field(const double* args, int at, int max, const char* what, const char* op) {
  const double v = args[at];
  if (!(v >= 0 && v <= max && v == (double)(int)v)) bad_count(v, max, what, op);
  return (int)v;
}

}  // namespace

void decode_call(const double* args, size_t len, KernelCall& c) {
  if (args == nullptr || len < (size_t)kCallHeader) fail(ErrorKind::Internal, c.name, "no argument buffer (setArgBuffer was not called)");
  const double dev = args[0];
  if (!(dev >= 0 && dev <= 1 << 20 && dev == (double)(int)dev))
    fail(ErrorKind::Device, c.name, "invalid device index " + num(dev) + " (caught at the native boundary)");
  c.device = (int)dev;
  c.n_inputs = count_field(args, 1, kMaxTensors, "inputs", c.name);
  c.n_outputs = count_field(args, 2, kMaxTensors, "outputs", c.name);
  c.n_attrs = count_field(args, 3, kMaxAttrs, "attributes", c.name);
  size_t pos = kCallHeader;
  for (int i = 0; i < c.n_inputs; ++i) pos = decode_or_diagnose(args, len, pos, c.name, false, i, c.inputs[i]);
  for (int i = 0; i < c.n_outputs; ++i) pos = decode_or_diagnose(args, len, pos, c.name, true, i, c.outputs[i]);
  if (pos + (size_t)c.n_attrs > len) fail(ErrorKind::Internal, c.name, "the attributes do not fit in the argument buffer");
  for (int i = 0; i < c.n_attrs; ++i) c.attrs[i] = args[pos + i];
}

}  // namespace kiln
