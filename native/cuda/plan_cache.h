// A cache of library plans (the descriptors and the algorithm chosen for one problem) keyed by the
// integers that describe the problem: shapes, strides, dtypes, alignments. One per thread (the
// libraries' handles are per thread too); Plan::release() destroys a plan's descriptors. The cache
// starts over when it holds kMaxPlans, so a program that sees ever new shapes stays bounded.
#pragma once
#include <array>
#include <cstdint>
#include <unordered_map>

namespace kiln { namespace cuda {

template <size_t N, typename Plan>
class PlanCache {
 public:
  using Key = std::array<int64_t, N>;
  static constexpr size_t kMaxPlans = 4096;

  ~PlanCache() { clear(); }

  // The plan of `key`, made by make() on first use.
  template <typename Make>
  Plan& get(const Key& key, Make make) {
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    if (plans_.size() >= kMaxPlans) clear();
    return plans_.emplace(key, make()).first->second;
  }

  void clear() {
    for (auto& kv : plans_) kv.second.release();
    plans_.clear();
  }

 private:
  struct Hash {   // FNV-1a over the key's integers
    size_t operator()(const Key& k) const {
      uint64_t h = 1469598103934665603ull;
      for (int64_t v : k) h = (h ^ (uint64_t)v) * 1099511628211ull;
      return (size_t)h;
    }
  };
  std::unordered_map<Key, Plan, Hash> plans_;
};

}}  // namespace kiln::cuda
