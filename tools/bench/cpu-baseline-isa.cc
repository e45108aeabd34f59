// What the CPU addon's baseline instruction set costs the loops that have no run-time AVX2/AVX-512
// clone: elementwise ops over contiguous operands, the way native/cpu/elementwise.h's unit-stride
// path runs them (the shared functors of kiln/math/elementwise_ops.h, load/store of kiln/dtype.h),
// one thread, 64 Ki elements (in cache), minimum of 200 runs. tools/bench/cpu-baseline-isa.sh
// compiles it with each candidate -march (the addon's other flags) and prints the table; run on a
// CPU with AVX2, where the clones of the hot loops (the focal loss) take over and these loops are
// what the baseline decides.
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <vector>
#include <algorithm>
#include "kiln/dtype.h"
#include "kiln/math/elementwise_ops.h"

using namespace kiln;
constexpr int64_t N = 1 << 16;

template <typename F>
__attribute__((noinline)) double time_ns_per_element(const F& body) {
  double best = 1e30;
  for (int r = 0; r < 200; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    body();
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, ns / N);
  }
  return best;
}

// out[i] = f(a[i], b[i]) with the addon's load/store (half types through float)
template <typename Out, typename In, typename F>
__attribute__((noinline)) void binary(Out* __restrict__ o, const In* __restrict__ a, const In* __restrict__ b, F f) {
  for (int64_t i = 0; i < N; ++i) store(o + i, f(load(a + i), load(b + i)));
}
template <typename Out, typename In, typename F>
__attribute__((noinline)) void unary(Out* __restrict__ o, const In* __restrict__ a, F f) {
  for (int64_t i = 0; i < N; ++i) store(o + i, f(load(a + i)));
}

struct Floor {
  template <typename T> T operator()(T x) const { return m::floor(x); }
};
struct Identity {
  template <typename T> T operator()(T x) const { return x; }
};

int main() {
  std::vector<float> f1(N), f2(N), fo(N);
  std::vector<int32_t> i1(N), i2(N), io(N);
  std::vector<int64_t> l1(N), l2(N);
  std::vector<uint8_t> bo(N);
  std::vector<Half> h1(N), h2(N), ho(N);
  for (int64_t i = 0; i < N; ++i) {
    f1[i] = (float)((i * 7919) % 2001 - 1000) / 37.0f;
    f2[i] = (float)((i * 104729) % 2001 - 1000) / 41.0f;
    i1[i] = (int32_t)(i * 2654435761u);
    i2[i] = (int32_t)(i * 40503u + 17);
    l1[i] = (int64_t)((uint64_t)i * 2862933555777941757ULL);   // wraps: spread over the int64 range
    l2[i] = (int64_t)((uint64_t)(N - i) * 3037000493ULL);
    store(&h1[i], f1[i]);
    store(&h2[i], f2[i]);
  }
  bool* bout = reinterpret_cast<bool*>(bo.data());
  struct Row {
    const char* name;
    double ns;
  };
  std::vector<Row> rows = {
      {"add float32", time_ns_per_element([&] { binary(fo.data(), f1.data(), f2.data(), ops::Add()); })},
      {"maximum float32 (NaN-propagating)", time_ns_per_element([&] { binary(fo.data(), f1.data(), f2.data(), ops::Maximum()); })},
      {"floor float32", time_ns_per_element([&] { unary(fo.data(), f1.data(), Floor()); })},
      {"relu float32", time_ns_per_element([&] { unary(fo.data(), f1.data(), ops::Relu()); })},
      {"mul int32 (wrapping)", time_ns_per_element([&] { binary(io.data(), i1.data(), i2.data(), ops::Mul()); })},
      {"lt int64 -> bool", time_ns_per_element([&] { binary(bout, l1.data(), l2.data(), ops::Lt()); })},
      {"abs int32", time_ns_per_element([&] { unary(io.data(), i1.data(), ops::Abs()); })},
      {"add float16 (via float)", time_ns_per_element([&] { binary(ho.data(), h1.data(), h2.data(), ops::Add()); })},
      {"int64 -> float32", time_ns_per_element([&] { unary(fo.data(), l1.data(), Identity()); })},
      {"sigmoid float32", time_ns_per_element([&] { unary(fo.data(), f1.data(), ops::Sigmoid()); })},
  };
  for (const Row& r : rows) std::printf("%s\t%.3f\n", r.name, r.ns);
  // keep the outputs alive
  double sink = fo[N / 3] + io[N / 5] + bo[N / 7] + load(&ho[N / 9]);
  std::fprintf(stderr, "(checksum %g)\n", sink);
}
