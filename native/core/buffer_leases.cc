// BufferLeases (buffer_leases.h).
#include "buffer_leases.h"
#include "weak_owners.h"

namespace kiln {

Napi::ArrayBuffer BufferLeases::lend(Napi::Env env, void* block, size_t size, size_t length) {
  auto* lease = new Lease{this, block, size, false};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_[block] = lease;
  }
  auto buffer = Napi::ArrayBuffer::New(env, block, length, finalize, lease);
  track_owner(env, buffer, lease, 0, collected);
  return buffer;
}

void BufferLeases::release(Napi::ArrayBuffer ab) {
  if (ab.IsDetached()) return;
  Lease* l = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(ab.Data());
    if (it != live_.end()) l = it->second;
  }
  if (l != nullptr) {
    untrack_owner(l);
    give_back(l);
  }
  ab.Detach();   // the finalizer may run now or later; the lease is already marked returned
}

void BufferLeases::give_back(Lease* l) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (l->returned) return;
    l->returned = true;
    auto it = live_.find(l->block);
    if (it != live_.end() && it->second == l) live_.erase(it);
  }
  give_back_(l->block, l->size);
}

void BufferLeases::collected(void* lease, intptr_t) {
  auto* l = static_cast<Lease*>(lease);
  l->owner->give_back(l);
}

void BufferLeases::finalize(Napi::Env, void*, Lease* l) {
  untrack_owner(l);
  l->owner->give_back(l);
  delete l;
}

}  // namespace kiln
