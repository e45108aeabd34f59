#include "weak_owners.h"
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln {

namespace {

struct Entry {
  napi_env env;
  napi_ref owner;   // weak (count 0): cleared by the collection that takes the owner
  intptr_t arg;
  ReleaseFn release;
};

std::mutex g_mutex;
std::unordered_map<void*, Entry> g_entries;
std::unordered_map<napi_env, napi_ref> g_sentinels;   // per environment: a weakly held empty object
std::unordered_set<napi_env> g_torn_down_hooked;

void check(napi_env env, napi_status s, const char* what) {
  if (s != napi_ok) NAPI_THROW_VOID(Napi::Error::New(env, std::string("weak owners: ") + what));
}

// Env teardown: nothing of this environment can run any more, so its blocks go back now.
void release_environment(void* data) {
  napi_env env = static_cast<napi_env>(data);
  std::vector<std::pair<void*, Entry>> gone;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto it = g_entries.begin(); it != g_entries.end();) {
      if (it->second.env == env) {
        gone.push_back(*it);
        it = g_entries.erase(it);
      } else ++it;
    }
    g_sentinels.erase(env);   // (the environment deletes its own references)
    g_torn_down_hooked.erase(env);
  }
  for (auto& [block, e] : gone) e.release(block, e.arg);
}

void hook_teardown(napi_env env) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_torn_down_hooked.insert(env).second) return;
  }
  napi_add_env_cleanup_hook(env, release_environment, env);
}

}  // namespace

void track_owner(napi_env env, napi_value owner, void* block, intptr_t arg, ReleaseFn release) {
  hook_teardown(env);
  napi_ref ref = nullptr;
  check(env, napi_create_reference(env, owner, 0, &ref), "napi_create_reference");
  std::lock_guard<std::mutex> lock(g_mutex);
  g_entries[block] = Entry{env, ref, arg, release};
}

bool untrack_owner(void* block) {
  Entry e;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_entries.find(block);
    if (it == g_entries.end()) return false;
    e = it->second;
    g_entries.erase(it);
  }
  napi_delete_reference(e.env, e.owner);   // on e.env's thread: only its own JS releases its blocks
  return true;
}

bool collected_since_last_check(napi_env env) {
  napi_ref sentinel = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_sentinels.find(env);
    if (it != g_sentinels.end()) sentinel = it->second;
  }
  if (sentinel != nullptr) {
    napi_value v = nullptr;
    if (napi_get_reference_value(env, sentinel, &v) == napi_ok && v != nullptr) return false;
    napi_delete_reference(env, sentinel);
  }
  // first call, or a collection took the sentinel: a fresh one for the next collection
  napi_value fresh;
  napi_ref ref = nullptr;
  if (napi_create_object(env, &fresh) != napi_ok || napi_create_reference(env, fresh, 0, &ref) != napi_ok) return false;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_sentinels[env] = ref;
  }
  return sentinel != nullptr;
}

size_t sweep_collected(napi_env env) {
  // References are read without the lock (only this thread touches this environment's entries'
  // references); the entries found dead are then removed under it.
  std::vector<std::pair<void*, Entry>> candidates;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto& kv : g_entries)
      if (kv.second.env == env) candidates.push_back(kv);
  }
  size_t released = 0;
  for (auto& [block, e] : candidates) {
    napi_value v = nullptr;
    if (napi_get_reference_value(env, e.owner, &v) != napi_ok || v != nullptr) continue;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      if (g_entries.erase(block) == 0) continue;
    }
    napi_delete_reference(env, e.owner);
    e.release(block, e.arg);
    ++released;
  }
  return released;
}

void export_sweep(Napi::Env env, Napi::Object exports) {
  hook_teardown(env);
  exports.Set("sweep",
              Napi::Function::New(env, [](const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)sweep_collected(info.Env())); }));
}

}  // namespace kiln
