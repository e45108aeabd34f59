// NCCL for the 'nccl' process-group backend: loading, communicators, collectives on the device's
// stream, and the watchdog that aborts a communicator whose collective outlived its timeout or
// that NCCL reports broken. See nccl.h.
#include "nccl.h"
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include "library_loader.h"
#include "runtime.h"

namespace kiln { namespace cuda { namespace nccl {
namespace {

using Clock = std::chrono::steady_clock;

LibraryState<Api> g_lib;

void load() {
  if (env_flag("KILN_DISABLE_NCCL")) {
    g_lib.enabled = false;
    g_lib.status.reason = "disabled by KILN_DISABLE_NCCL";
    return;
  }
  OpenedLibrary lib = open_library({"libnccl.so.2"});
  if (!lib.handle) {
    g_lib.status.reason = not_found_message("NCCL 2 (libnccl.so.2)", lib.error);
    return;
  }
  g_lib.status.path = lib.path;
  std::string missing;
#define KILN_RESOLVE(name, ret, params) resolve(g_lib.api.name, lib.handle, #name, missing);
  KILN_NCCL_FUNCTIONS(KILN_RESOLVE)
#undef KILN_RESOLVE
  if (!missing.empty()) {
    g_lib.status.reason = lib.path + " lacks " + missing;
    return;
  }
  int code = 0;
  if (g_lib.api.ncclGetVersion(&code) != ncclSuccess) {
    g_lib.status.reason = lib.path + ": ncclGetVersion failed";
    return;
  }
  // NCCL_VERSION(X, Y, Z) = X * 10000 + Y * 100 + Z since 2.9 (X * 1000 + Y * 100 + Z before)
  int major = code >= 10000 ? code / 10000 : code / 1000, minor = code >= 10000 ? (code / 100) % 100 : (code / 100) % 10, patch = code % 100;
  g_lib.status.version = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (major != 2 || minor < 10) {
    g_lib.status.reason = lib.path + " is NCCL " + g_lib.status.version + "; Kiln needs NCCL 2.10 or newer (ncclAvg)";
    return;
  }
  g_lib.status.available = true;
}

const Api& api(const char* op) {
  std::call_once(g_lib.once, load);
  if (const Api* a = g_lib.usable()) return *a;
  fail(ErrorKind::Device, op, "NCCL is not available: " + (g_lib.status.reason.empty() ? std::string("disabled") : g_lib.status.reason));
}

std::string error_text(const Api& a, ncclResult_t r) {
  const char* s = a.ncclGetErrorString(r);
  return std::string(s ? s : "unknown NCCL error") + " (ncclResult_t " + std::to_string((int)r) + ")";
}

size_t element_size(int nccl_dtype) {
  switch (nccl_dtype) {
    case 0:
    case 1: return 1;            // int8, uint8
    case 6:
    case 9: return 2;            // float16, bfloat16
    case 2:
    case 3:
    case 7: return 4;    // int32, uint32, float32
    case 4:
    case 5:
    case 8: return 8;    // int64, uint64, float64
    default: return 0;
  }
}

struct Pending {
  int64_t seq;
  cudaEvent_t done;                      // recorded on the stream right after the collective
  Clock::time_point deadline;
};

struct Comm {
  ncclComm_t comm = nullptr;
  int world = 0, rank = 0, device = 0;
  std::mutex m;                          // guards what follows
  std::deque<Pending> pending;
  int64_t launched = 0, completed = 0;
  std::string failure;
  bool aborted = false;
  bool stop = false;
  std::thread watchdog;
};

std::mutex g_comms_mutex;
std::map<Handle, std::shared_ptr<Comm>> g_comms;
Handle g_next = 1;

std::shared_ptr<Comm> get(Handle h, const char* op) {
  std::lock_guard<std::mutex> lock(g_comms_mutex);
  auto it = g_comms.find(h);
  if (it == g_comms.end()) fail(ErrorKind::Value, op, "the NCCL communicator was destroyed");
  return it->second;
}

// Aborts the communicator once (c.m held by the caller): the queued kernels of its collectives exit.
void abort_locked(Comm& c, const Api& a) {
  if (c.aborted) return;
  c.aborted = true;
  a.ncclCommAbort(c.comm);
}

// Watches a communicator: completes its collectives in order as their events fire; fails and aborts
// it at the first collective past its deadline, event error, or asynchronous NCCL error.
void watch(std::shared_ptr<Comm> c) {
  const Api& a = *g_lib.usable();
  cudaSetDevice(c->device);              // this thread's own current device
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(c->m);
      if (c->stop) return;
      while (c->failure.empty() && !c->pending.empty()) {
        Pending& p = c->pending.front();
        cudaError_t e = cudaEventQuery(p.done);
        if (e == cudaSuccess) {
          cudaEventDestroy(p.done);
          c->completed = p.seq;
          c->pending.pop_front();
          continue;
        }
        if (e != cudaErrorNotReady) {
          cudaGetLastError();
          c->failure = "collective #" + std::to_string(p.seq) + " failed on the device: " + cudaGetErrorString(e);
        } else if (Clock::now() > p.deadline) {
          c->failure = "collective #" + std::to_string(p.seq) + " did not complete within its timeout (a peer died, hangs, or runs other collectives)";
        }
        break;
      }
      if (c->failure.empty() && !c->aborted) {
        ncclResult_t st = ncclSuccess;
        if (a.ncclCommGetAsyncError(c->comm, &st) == ncclSuccess && st != ncclSuccess && st != ncclInProgress)
          c->failure = "NCCL reported an error: " + error_text(a, st);
      }
      if (!c->failure.empty()) abort_locked(*c, a);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Waits while a non-blocking NCCL call is in progress, at most until `deadline`.
ncclResult_t settle(const Api& a, ncclComm_t comm, ncclResult_t r, Clock::time_point deadline) {
  while (r == ncclInProgress) {
    if (Clock::now() > deadline) return ncclInProgress;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (a.ncclCommGetAsyncError(comm, &r) != ncclSuccess) return ncclInternalError;
  }
  return r;
}

}  // namespace

LibraryStatus status() {
  std::call_once(g_lib.once, load);
  return g_lib.report();
}

std::string unique_id() {
  const Api& a = api("ncclGetUniqueId");
  ncclUniqueId id;
  ncclResult_t r = a.ncclGetUniqueId(&id);
  if (r != ncclSuccess) fail(ErrorKind::Device, "initProcessGroup", "ncclGetUniqueId failed: " + error_text(a, r));
  return std::string(id.internal, NCCL_UNIQUE_ID_BYTES);
}

Handle init(int world, const std::string& id, int rank, int device, int64_t timeout_ms) {
  const char* op = "initProcessGroup";
  const Api& a = api(op);
  if (id.size() != (size_t)NCCL_UNIQUE_ID_BYTES) fail(ErrorKind::Value, op, "the NCCL unique id must have 128 bytes, got " + std::to_string(id.size()));
  // non-blocking communicators: an initialisation whose peers never come can be aborted
  setenv("NCCL_COMM_BLOCKING", "0", 0);
  device_stream(device);                 // makes `device` this thread's current device
  ncclUniqueId uid;
  std::memcpy(uid.internal, id.data(), NCCL_UNIQUE_ID_BYTES);
  auto c = std::make_shared<Comm>();
  c->world = world;
  c->rank = rank;
  c->device = device;
  ncclResult_t r = a.ncclCommInitRank(&c->comm, world, uid, rank);
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (c->comm != nullptr) r = settle(a, c->comm, r, deadline);
  if (r != ncclSuccess) {
    if (c->comm != nullptr) a.ncclCommAbort(c->comm);
    std::string why = r == ncclInProgress ? "timed out after " + std::to_string(timeout_ms) + " ms waiting for every rank to join the NCCL communicator"
                                          : "ncclCommInitRank failed: " + error_text(a, r);
    fail(ErrorKind::Device, op, why);
  }
  c->watchdog = std::thread(watch, c);
  std::lock_guard<std::mutex> lock(g_comms_mutex);
  Handle h = g_next++;
  g_comms[h] = c;
  return h;
}

int64_t launch(Handle h, Collective kind, uintptr_t address, size_t count, int nccl_dtype, int op_code, int root, int64_t timeout_ms) {
  const char* op = kind == Collective::AllReduce   ? "allReduce"
                   : kind == Collective::Broadcast ? "broadcast"
                   : kind == Collective::AllGather ? "allGather"
                                                   : "reduceScatter";
  const Api& a = api(op);
  std::shared_ptr<Comm> c = get(h, op);
  size_t es = element_size(nccl_dtype);
  if (es == 0) fail(ErrorKind::DType, op, "NCCL has no data type " + std::to_string(nccl_dtype));
  cudaStream_t s = device_stream(c->device);
  std::lock_guard<std::mutex> lock(c->m);
  if (!c->failure.empty()) fail(ErrorKind::Device, op, "the NCCL communicator failed earlier: " + c->failure);
  void* buf = reinterpret_cast<void*>(address);
  char* bytes = static_cast<char*>(buf);
  size_t block = count / (size_t)c->world;
  auto red = static_cast<ncclRedOp_t>(op_code);
  auto dt = static_cast<ncclDataType_t>(nccl_dtype);
  ncclResult_t r;
  switch (kind) {
    case Collective::AllReduce: r = a.ncclAllReduce(buf, buf, count, dt, red, c->comm, s); break;
    case Collective::Broadcast: r = a.ncclBroadcast(buf, buf, count, dt, root, c->comm, s); break;
    // in place: this rank's block is already at index rank of the whole buffer
    case Collective::AllGather: r = a.ncclAllGather(bytes + (size_t)c->rank * block * es, buf, block, dt, c->comm, s); break;
    // in place: the result lands in block `rank` of the input
    case Collective::ReduceScatter: r = a.ncclReduceScatter(buf, bytes + (size_t)c->rank * block * es, block, dt, red, c->comm, s); break;
    default: fail(ErrorKind::Value, op, "unknown collective");
  }
  Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  r = settle(a, c->comm, r, deadline);
  if (r != ncclSuccess) {
    c->failure =
        r == ncclInProgress ? std::string("NCCL did not accept the collective within its timeout") : "NCCL refused the collective: " + error_text(a, r);
    abort_locked(*c, a);
    fail(ErrorKind::Device, op, c->failure);
  }
  cudaEvent_t done;
  KILN_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
  KILN_CUDA_CHECK(cudaEventRecord(done, s), "cudaEventRecord");
  c->pending.push_back({++c->launched, done, deadline});
  return c->launched;
}

int64_t completed(Handle h) {
  std::shared_ptr<Comm> c = get(h, "Work");
  std::lock_guard<std::mutex> lock(c->m);
  return c->completed;
}

std::string failure(Handle h) {
  std::shared_ptr<Comm> c = get(h, "Work");
  std::lock_guard<std::mutex> lock(c->m);
  return c->failure;
}

namespace {
// Stops the watchdog, then aborts or destroys the communicator, and forgets it.
void end(Handle h, bool abort_it, const std::string& why) {
  std::shared_ptr<Comm> c;
  {
    std::lock_guard<std::mutex> lock(g_comms_mutex);
    auto it = g_comms.find(h);
    if (it == g_comms.end()) return;
    c = it->second;
    g_comms.erase(it);
  }
  const Api& a = *g_lib.usable();
  {
    std::lock_guard<std::mutex> lock(c->m);
    c->stop = true;
    if (abort_it && c->failure.empty()) c->failure = why;
  }
  if (c->watchdog.joinable()) c->watchdog.join();
  std::lock_guard<std::mutex> lock(c->m);
  if (abort_it || !c->failure.empty()) abort_locked(*c, a);
  else if (!c->aborted) a.ncclCommDestroy(c->comm);
  for (Pending& p : c->pending) cudaEventDestroy(p.done);
  c->pending.clear();
}
}  // namespace

void abort(Handle h, const std::string& why) { end(h, true, why); }
void destroy(Handle h) { end(h, false, ""); }

}}}  // namespace kiln::cuda::nccl
