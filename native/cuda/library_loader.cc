#include "library_loader.h"
#include <dlfcn.h>
#include <glob.h>
#include <link.h>
#include <unistd.h>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

namespace kiln { namespace cuda {
namespace {

bool is_dir(const std::string& p) { return !p.empty() && access(p.c_str(), X_OK) == 0; }
bool is_file(const std::string& p) { return access(p.c_str(), R_OK) == 0; }

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::string> split_colons(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<std::string> glob_dirs(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g;
  if (glob(pattern.c_str(), GLOB_ONLYDIR | GLOB_NOSORT, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
  }
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> env_folders() { return split_colons(env("KILN_CUDA_LIBRARY_PATH")); }

std::vector<std::string> toolkit_folders() {
  std::vector<std::string> out;
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    std::string root = env(var);
    if (!root.empty()) out.push_back(root + "/lib64");
  }
  out.push_back("/usr/local/cuda/lib64");
  return out;
}

// The nvidia/*/lib folders (pip's NVIDIA wheels: nvidia/cublas/lib, nvidia/cudnn/lib,
// nvidia/cuda_nvrtc/lib, or nvidia/cu13/lib for CUDA 13) of the site-packages matching `patterns`.
std::vector<std::string> wheel_lib_folders(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const std::string& p : patterns)
    for (const std::string& site : glob_dirs(p))
      for (const std::string& lib : glob_dirs(site + "/nvidia/*/lib")) out.push_back(lib);
  return out;
}

// The wheels of the active Python environment ($VIRTUAL_ENV, $CONDA_PREFIX): searched before the
// system's libraries, since activating an environment is the user choosing its libraries (PyTorch's
// wheels load their own the same way).
std::vector<std::string> active_env_folders() {
  std::vector<std::string> patterns;
  for (const char* var : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    std::string root = env(var);
    if (!root.empty()) patterns.push_back(root + "/lib/python3*/site-packages");
  }
  return wheel_lib_folders(patterns);
}

// The wheels of the other site-packages folders users have: searched last.
std::vector<std::string> wheel_folders() {
  std::vector<std::string> patterns;
  std::string home = env("HOME");
  if (!home.empty()) patterns.push_back(home + "/.local/lib/python3*/site-packages");
  for (const char* p : {"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
                        "/usr/lib/python3/dist-packages", "/opt/*/.venv/lib/python3*/site-packages", "/opt/*/lib/python3*/site-packages"}) {
    patterns.push_back(p);
  }
  return wheel_lib_folders(patterns);
}

// The file the loader mapped for `handle`.
std::string loaded_path(void* handle, const std::string& fallback) {
  struct link_map* lm = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name && lm->l_name[0]) return lm->l_name;
  return fallback;
}

// The library named by a loader error "NAME: cannot open shared object file: ...", or "".
std::string missing_library(const std::string& err) {
  size_t at = err.find(": cannot open shared object file");
  if (at == std::string::npos) return "";
  size_t start = err.rfind(' ', at);
  return err.substr(start == std::string::npos ? 0 : start + 1, at - (start == std::string::npos ? 0 : start + 1));
}

OpenedLibrary open_spec(const std::string& spec, int depth);

// Opens a dependency that the loader did not find by itself, from the search folders.
bool open_dependency(const std::string& soname, int depth) {
  if (depth > 4) return false;
  for (const std::string& dir : search_folders()) {
    std::string p = dir + "/" + soname;
    if (is_file(p) && open_spec(p, depth + 1).handle) return true;
  }
  return false;
}

// dlopen of a path or a soname; when it fails because a library it needs is missing (not the file
// itself), opens that one from the search folders and tries again.
OpenedLibrary open_spec(const std::string& spec, int depth) {
  OpenedLibrary r;
  for (int attempt = 0; attempt < 8; ++attempt) {
    dlerror();
    void* h = dlopen(spec.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (h) {
      r.handle = h;
      r.path = loaded_path(h, spec);
      r.error.clear();
      return r;
    }
    const char* e = dlerror();
    r.error = e ? e : "unknown loader error";
    std::string missing = missing_library(r.error);
    std::string self = spec.substr(spec.rfind('/') == std::string::npos ? 0 : spec.rfind('/') + 1);
    if (missing.empty() || missing == spec || missing == self || missing.find('/') != std::string::npos) return r;
    if (!open_dependency(missing, depth)) return r;
  }
  return r;
}

}  // namespace

std::vector<std::string> search_folders() {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& dir) {
    char real[PATH_MAX];
    std::string key = realpath(dir.c_str(), real) ? std::string(real) : dir;
    if (is_dir(dir) && seen.insert(key).second) out.push_back(dir);
  };
  for (const std::string& d : env_folders()) add(d);
  for (const std::string& d : active_env_folders()) add(d);
  for (const std::string& d : toolkit_folders()) add(d);
  for (const std::string& d : wheel_folders()) add(d);
  return out;
}

std::string search_description() {
  std::string env_value = env("KILN_CUDA_LIBRARY_PATH");
  std::string s = "KILN_CUDA_LIBRARY_PATH (" + (env_value.empty() ? std::string("not set") : "'" + env_value + "'") + ")";
  for (const std::string& d : active_env_folders()) s += ", " + d;
  s += ", the dynamic loader's path (LD_LIBRARY_PATH, ld.so.cache)";
  std::vector<std::string> folders;
  for (const std::string& d : toolkit_folders()) folders.push_back(d);
  for (const std::string& d : wheel_folders()) folders.push_back(d);
  for (const std::string& d : folders) s += ", " + d;
  s += " and the nvidia/*/lib folders of pip's NVIDIA wheels in the Python site-packages of $VIRTUAL_ENV, $CONDA_PREFIX, "
       "~/.local, /usr/local/lib, /usr/lib and /opt/*";
  return s;
}

OpenedLibrary open_file(const std::string& path) { return open_spec(path, 0); }

OpenedLibrary open_library(const std::vector<std::string>& sonames) {
  OpenedLibrary last;
  last.error = "not found";
  auto try_folders = [&](const std::vector<std::string>& dirs) -> bool {
    for (const std::string& dir : dirs)
      for (const std::string& so : sonames) {
        std::string p = dir + "/" + so;
        if (!is_file(p)) continue;
        OpenedLibrary r = open_spec(p, 0);
        if (r.handle) {
          last = r;
          return true;
        }
        last.error = r.error;   // found but not loadable: keep the reason
      }
    return false;
  };
  if (try_folders(env_folders())) return last;
  if (try_folders(active_env_folders())) return last;
  for (const std::string& so : sonames) {
    OpenedLibrary r = open_spec(so, 0);
    if (r.handle) return r;
    // "cannot open" for the soname itself only means it is not on the loader's path
    if (missing_library(r.error) != so) last.error = r.error;
  }
  if (try_folders(toolkit_folders())) return last;
  if (try_folders(wheel_folders())) return last;
  return last;
}

std::string not_found_message(const std::string& what, const std::string& error) {
  return what + " was not found (" + error + "); looked in " + search_description() +
         ". Set KILN_CUDA_LIBRARY_PATH to the folder that holds it (colon-separated folders)";
}

void* find_symbol(void* handle, const char* name) { return handle ? dlsym(handle, name) : nullptr; }

bool env_flag(const char* name) {
  std::string v = env(name);
  return !v.empty() && v != "0" && v != "false";
}

}}  // namespace kiln::cuda
