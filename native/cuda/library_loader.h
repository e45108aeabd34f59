// Finds and opens NVIDIA's optional libraries (cuBLASLt, cuDNN, NVRTC) at run time with dlopen, so
// that one kiln_cuda.node, built where none of them is installed, uses them wherever they exist.
//
// Search order, for each library (its sonames tried newest first in each place):
//   1. the folders of KILN_CUDA_LIBRARY_PATH (colon-separated), in order
//   2. the nvidia/*/lib folders of pip's NVIDIA wheels in the active Python environment's
//      site-packages: $VIRTUAL_ENV, $CONDA_PREFIX (activating one chooses its libraries)
//   3. the dynamic loader's own path (dlopen by soname: LD_LIBRARY_PATH, ld.so.cache, RUNPATH)
//   4. the CUDA toolkit: $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64
//   5. the nvidia/*/lib folders of pip's NVIDIA wheels in the other site-packages folders users
//      have: ~/.local, /usr/local/lib, /usr/lib, /opt/*/.venv, /opt/*
// docs/architecture.md ("NVIDIA's libraries") describes the policy around it.
#pragma once
#include <string>
#include <vector>

namespace kiln { namespace cuda {

struct OpenedLibrary {
  void* handle = nullptr;   // dlopen handle; null when the library was not found
  std::string path;         // the file the loader opened
  std::string error;        // why it was not opened (the last loader error, or "not found")
};

// Opens the first of `sonames` found in the search order above (RTLD_NOW | RTLD_GLOBAL). A library
// that needs another one the loader cannot find (e.g. cuDNN's sub-libraries needing libcublasLt
// from a wheel folder) gets that dependency opened first, by the same search.
OpenedLibrary open_library(const std::vector<std::string>& sonames);

// Opens one file by path (RTLD_NOW | RTLD_GLOBAL), with the same handling of missing dependencies.
OpenedLibrary open_file(const std::string& path);

// The folders of steps 1, 2, 4 and 5 that exist on this machine, in search order.
std::vector<std::string> search_folders();

// Where open_library looks, in words, for messages ("KILN_CUDA_LIBRARY_PATH (not set), the
// dynamic loader's path, /usr/local/cuda/lib64, ...").
std::string search_description();

// The address of `name` in an opened library, or null.
void* find_symbol(void* handle, const char* name);

// Points `fn` at the function `name` of an opened library; appends the name to `missing` when the
// library does not export it.
template <typename Fn>
void resolve(Fn& fn, void* handle, const char* name, std::string& missing) {
  fn = reinterpret_cast<Fn>(find_symbol(handle, name));
  if (!fn) missing += (missing.empty() ? "" : ", ") + std::string(name);
}

// "`what` was not found (`error`); looked in ... Set KILN_CUDA_LIBRARY_PATH ...".
std::string not_found_message(const std::string& what, const std::string& error);

// True when the environment variable `name` is set to something other than "", "0" or "false".
bool env_flag(const char* name);

}}  // namespace kiln::cuda
