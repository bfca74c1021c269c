// The NCCL backend of DeviceCommunicator. libnccl.so.2 is opened with dlopen, like the driver:
// kiln starts (and trains on one GPU or the CPU) on machines without NCCL, and only a
// data-parallel CUDA run asks for it. nccl.h supplies the types and signatures at build time;
// without it (KILN_HAVE_NCCL unset) every call says so.
#include "runtime/cuda/device_communicator.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/data_parallel.h"
#include "support/status.h"

#ifdef KILN_HAVE_NCCL
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace kiln::runtime {

#ifndef KILN_HAVE_NCCL

absl::Status ProbeNccl() {
  return absl::UnavailableError(
      "this kiln was built without NCCL (no nccl.h in the CUDA toolkit), which data-parallel "
      "training with --device cuda needs; install NCCL and rebuild (docs/distributed.md)");
}

absl::StatusOr<std::unique_ptr<DeviceCommunicator>> MakeNcclCommunicator(Communicator&) {
  return ProbeNccl();
}

#else

namespace {

// The NCCL entry points kiln calls, typed from nccl.h.
struct Nccl {
  absl::Status status;
  int version = 0;
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclGetLastError) last_error = nullptr;
};

template <typename Fn>
bool Resolve(void* library, const char* name, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(library, name));
  return fn != nullptr;
}

absl::Status Load(Nccl& n) {
  void* library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "data-parallel training with --device cuda needs NCCL, and libnccl.so.2 does not load (",
        dlerror(), "); install NCCL 2.10 or later (docs/distributed.md)"));
  }
  const bool ok = Resolve(library, "ncclGetVersion", n.get_version) &&
                  Resolve(library, "ncclGetUniqueId", n.get_unique_id) &&
                  Resolve(library, "ncclCommInitRank", n.comm_init_rank) &&
                  Resolve(library, "ncclAllReduce", n.all_reduce) &&
                  Resolve(library, "ncclCommDestroy", n.comm_destroy) &&
                  Resolve(library, "ncclGetErrorString", n.error_string) &&
                  Resolve(library, "ncclGetLastError", n.last_error);
  if (!ok) return absl::UnavailableError(absl::StrCat("libnccl.so.2 lacks a symbol: ", dlerror()));
  if (ncclResult_t r = n.get_version(&n.version); r != ncclSuccess) {
    return absl::UnavailableError(absl::StrCat("ncclGetVersion failed: ", n.error_string(r)));
  }
  // ncclAvg (the mean in one call) arrived in NCCL 2.10.
  if (n.version < 21000) {
    return absl::UnavailableError(absl::StrFormat(
        "libnccl.so.2 is NCCL %d; data-parallel training needs 2.10 or later", n.version));
  }
  return absl::OkStatus();
}

// Loaded once per process; the library stays loaded.
const Nccl& GetNccl() {
  static Nccl* nccl = [] {
    auto* n = new Nccl;
    n->status = Load(*n);
    return n;
  }();
  return *nccl;
}

absl::Status Check(ncclResult_t result, const char* what, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return absl::OkStatus();
  const Nccl& n = GetNccl();
  const char* last = n.last_error(comm);  // NCCL's own words on the failure, often empty.
  const std::string detail = last != nullptr && *last != '\0' ? absl::StrCat(" (", last, ")") : "";
  return absl::InternalError(
      absl::StrCat("NCCL ", what, " failed: ", n.error_string(result), detail));
}

class NcclCommunicator final : public DeviceCommunicator {
 public:
  NcclCommunicator(ncclComm_t comm, int world) : comm_(comm), world_(world) {}
  ~NcclCommunicator() override { GetNccl().comm_destroy(comm_); }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int world_size() const override { return world_; }
  std::string backend() const override { return "nccl"; }

  absl::Status AllReduceMean(CudaDevicePtr data, size_t count, CudaStream stream) override {
    void* buffer = reinterpret_cast<void*>(data);
    return Check(GetNccl().all_reduce(buffer, buffer, count, ncclFloat32, ncclAvg, comm_,
                                      static_cast<cudaStream_t>(stream.handle)),
                 "all-reduce", comm_);
  }

 private:
  ncclComm_t comm_;
  int world_;
};

}  // namespace

absl::Status ProbeNccl() { return GetNccl().status; }

absl::StatusOr<std::unique_ptr<DeviceCommunicator>> MakeNcclCommunicator(Communicator& host) {
  // Every step below is collective: a rank that fails tells the others before they wait for it.
  KILN_RETURN_IF_ERROR(AgreeOnStatus(host, ProbeNccl()));
  const Nccl& n = GetNccl();
  ncclUniqueId id{};
  absl::Status made = host.rank() == 0 ? Check(n.get_unique_id(&id), "ncclGetUniqueId")
                                       : absl::OkStatus();
  KILN_RETURN_IF_ERROR(AgreeOnStatus(host, made));
  KILN_RETURN_IF_ERROR(host.Broadcast(&id, sizeof(id), /*root=*/0));
  ncclComm_t comm = nullptr;
  KILN_RETURN_IF_ERROR(
      Check(n.comm_init_rank(&comm, host.world_size(), id, host.rank()), "ncclCommInitRank"));
  return std::unique_ptr<DeviceCommunicator>(new NcclCommunicator(comm, host.world_size()));
}

#endif  // KILN_HAVE_NCCL

}  // namespace kiln::runtime
