// The cuBLASLt path of the CUDA device's matrix products (gemm.h's cublaslt_gemm): the problem is
// described to cuBLASLt by cublaslt_layout.h; each distinct problem (shapes, strides, dtype,
// compute type, pointer alignments, epilogue) gets its descriptors and algorithm
// (cublasLtMatmulAlgoGetHeuristic's first) once, cached per thread and device; the workspace
// comes from Kiln's caching allocator for each call.
#include <algorithm>
#include <array>
#include <cstring>
#include "allocator.h"
#include "cublaslt_layout.h"
#include "gemm.h"
#include "nvidia_libraries.h"
#include "plan_cache.h"
#include "runtime.h"

namespace kiln { namespace cuda {
namespace {

using namespace nvidia::cublaslt;

constexpr size_t kMaxWorkspace = size_t(32) << 20;   // 32 MiB, as PyTorch allows on Hopper

bool cuda_type(DType t, cudaDataType_t& out) {
  switch (t) {
    case DType::Float32: out = CUDA_R_32F; return true;
    case DType::Float64: out = CUDA_R_64F; return true;
    case DType::Float16: out = CUDA_R_16F; return true;
    case DType::BFloat16: out = CUDA_R_16BF; return true;
    default: return false;
  }
}

// The largest power of two (at most 256) dividing every byte offset a kernel may start from.
uint32_t alignment(const void* p, std::initializer_list<int64_t> strides, int elem) {
  uint64_t bits = (uint64_t)(uintptr_t)p | 256;
  for (int64_t s : strides) bits |= (uint64_t)(s * elem);
  return (uint32_t)(bits & (~bits + 1));
}

// A problem's descriptors and algorithm; ok is false when cuBLASLt offered none.
struct Plan {
  bool ok = false;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  void release() {
    const Api* api = cublaslt::api();
    if (!api) return;
    if (desc) api->cublasLtMatmulDescDestroy(desc);
    for (cublasLtMatrixLayout_t l : {a, b, d})
      if (l) api->cublasLtMatrixLayoutDestroy(l);
  }
};
thread_local PlanCache<22, Plan> t_plans;

struct Setup {
  cudaDataType_t type;
  cublasComputeType_t compute;
  cudaDataType_t scale;
  LtLayout lt;
  bool half;
};

cublasOperation_t op_of(const LtOperand& o) { return o.transpose ? CUBLAS_OP_T : CUBLAS_OP_N; }

void set_layout_batch(const Api* api, cublasLtMatrixLayout_t l, int32_t count, int64_t stride, const char* op) {
  cublaslt::check(api->cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), op, "cublasLtMatrixLayoutSetAttribute");
  cublaslt::check(api->cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)), op,
                  "cublasLtMatrixLayoutSetAttribute");
}

Plan make_plan(const Api* api, cublasLtHandle_t handle, const Setup& s, const uint32_t align[4], const void* bias, const char* op) {
  Plan p;
  cublaslt::check(api->cublasLtMatmulDescCreate(&p.desc, s.compute, s.scale), op, "cublasLtMatmulDescCreate");
  int32_t ta = op_of(s.lt.a), tb = op_of(s.lt.b);
  cublaslt::check(api->cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), op, "cublasLtMatmulDescSetAttribute");
  cublaslt::check(api->cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), op, "cublasLtMatmulDescSetAttribute");
  if (bias) {
    uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    cublaslt::check(api->cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)), op,
                    "cublasLtMatmulDescSetAttribute");
    // the heuristic reads the bias pointer's alignment
    cublaslt::check(api->cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), op, "cublasLtMatmulDescSetAttribute");
  }
  const LtLayout& L = s.lt;
  cublaslt::check(api->cublasLtMatrixLayoutCreate(&p.a, s.type, L.a.rows, L.a.cols, L.a.ld), op, "cublasLtMatrixLayoutCreate");
  cublaslt::check(api->cublasLtMatrixLayoutCreate(&p.b, s.type, L.b.rows, L.b.cols, L.b.ld), op, "cublasLtMatrixLayoutCreate");
  cublaslt::check(api->cublasLtMatrixLayoutCreate(&p.d, s.type, L.d.rows, L.d.cols, L.d.ld), op, "cublasLtMatrixLayoutCreate");
  if (L.batch > 1) {
    set_layout_batch(api, p.a, (int32_t)L.batch, L.stride_a, op);
    set_layout_batch(api, p.b, (int32_t)L.batch, L.stride_b, op);
    set_layout_batch(api, p.d, (int32_t)L.batch, L.stride_d, op);
  }
  // The first algorithm of the heuristic; for the half types, first among those whose split-K
  // partial sums stay in float32 (C rounded once), else among all.
  for (int attempt = s.half ? 0 : 1; attempt < 2 && !p.ok; ++attempt) {
    cublasLtMatmulPreference_t pref = nullptr;
    cublaslt::check(api->cublasLtMatmulPreferenceCreate(&pref), op, "cublasLtMatmulPreferenceCreate");
    uint64_t ws = kMaxWorkspace;
    cublasStatus_t st = api->cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                                CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; ++i) st = api->cublasLtMatmulPreferenceSetAttribute(pref, align_attr[i], &align[i], sizeof(align[i]));
    if (attempt == 0 && st == CUBLAS_STATUS_SUCCESS) {
      uint32_t mask = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
      st = api->cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &mask, sizeof(mask));
    }
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS) st = api->cublasLtMatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.d, p.d, pref, 1, &result, &found);
    api->cublasLtMatmulPreferenceDestroy(pref);
    // Out of memory is an error; any other refusal (NOT_SUPPORTED, INVALID_VALUE for a layout
    // cuBLASLt does not take) leaves this problem to Kiln's kernel.
    if (st == CUBLAS_STATUS_ALLOC_FAILED) cublaslt::check(st, op, "cublasLtMatmulAlgoGetHeuristic");
    if (st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
      p.ok = true;
      p.algo = result.algo;
      p.workspace = result.workspaceSize;
    }
  }
  return p;
}

}  // namespace

bool cublaslt_gemm(const GemmCall& g) {
  const Api* api = cublaslt::api();
  if (!api) return false;
  const mm::Problem& P = g.p;
  Setup s;
  if (!cuda_type(g.dtype, s.type) || P.K == 0) return false;
  s.half = g.dtype == DType::Float16 || g.dtype == DType::BFloat16;
  s.scale = g.dtype == DType::Float64 ? CUDA_R_64F : CUDA_R_32F;
  s.compute = g.dtype == DType::Float64                        ? CUBLAS_COMPUTE_64F
              : (g.dtype == DType::Float32 && g.precision > 0) ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                               : CUBLAS_COMPUTE_32F;
  if (!lt_layout(P, s.lt)) return false;
  const LtLayout& L = s.lt;
  if (g.bias && g.bias->strides[0] != 1 && P.N > 1) return false;   // the epilogue reads a contiguous bias

  const int es = dtype_size(g.dtype);
  // the looped outer batch dims step every start address too: their strides count for alignment
  const uint32_t align[4] = {
      alignment(g.b, {L.a.ld, L.stride_a, lt_outer_stride_bits(P, 1)}, es), alignment(g.a, {L.b.ld, L.stride_b, lt_outer_stride_bits(P, 0)}, es),
      alignment(g.c, {L.d.ld, L.stride_d, lt_outer_stride_bits(P, 2)}, es), alignment(g.c, {L.d.ld, L.stride_d, lt_outer_stride_bits(P, 2)}, es)};
  const int64_t bias_align = g.bias ? alignment(g.bias->data, {}, es) : 0;

  const int device = g.call->device;
  const PlanCache<22, Plan>::Key key = {
      device,  (int64_t)g.dtype, s.compute,  L.a.transpose, L.b.transpose, P.M,      P.N,      P.K,        L.a.ld,         L.b.ld, L.d.ld,
      L.batch, L.stride_a,       L.stride_b, L.stride_d,    align[0],      align[1], align[2], bias_align, g.bias ? 1 : 0, 0,      0};
  cublasLtHandle_t handle = cublaslt::handle(device);
  Plan& plan = t_plans.get(key, [&] { return make_plan(api, handle, s, align, g.bias ? g.bias->data : nullptr, g.call->name); });
  if (!plan.ok) return false;
  if (g.bias) {
    const void* ptr = g.bias->data;
    cublaslt::check(api->cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptr, sizeof(ptr)), g.call->name,
                    "cublasLtMatmulDescSetAttribute");
  }

  const float alpha32 = 1.f, beta32 = g.accumulate ? 1.f : 0.f;
  const double alpha64 = 1.0, beta64 = g.accumulate ? 1.0 : 0.0;
  const void* alpha = s.scale == CUDA_R_64F ? (const void*)&alpha64 : (const void*)&alpha32;
  const void* beta = s.scale == CUDA_R_64F ? (const void*)&beta64 : (const void*)&beta32;
  DeviceBuffer ws(device, plan.workspace);
  cudaStream_t stream = stream_of(*g.call);
  for (int64_t ob = 0; ob < L.outer; ++ob) {
    int64_t off[3];
    lt_outer_offsets(P, ob, off);
    const char* a = static_cast<const char*>(g.a) + off[0] * es;
    const char* b = static_cast<const char*>(g.b) + off[1] * es;
    char* c = static_cast<char*>(g.c) + off[2] * es;
    cublaslt::check(
        api->cublasLtMatmul(handle, plan.desc, alpha, b, plan.a, a, plan.b, beta, c, plan.d, c, plan.d, &plan.algo, ws.data, plan.workspace, stream),
        g.call->name, "cublasLtMatmul");
  }
  return true;
}

}}  // namespace kiln::cuda
