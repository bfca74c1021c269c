// The gradient all-reduce of data-parallel training on CUDA devices. Generated code marks each
// all_reduce op's kernel (DeviceKernel::all_reduce_slot); CudaExecutable then enqueues
// AllReduceMean on that buffer in stream order, so the collective is part of the step (and of its
// CUDA graph). The host-side collectives of a run (start-up checks, metrics, the per-epoch
// broadcast) stay on the runtime::Communicator that launched it (MPI), which also carries NCCL's
// unique id to the ranks.
//
//   KILN_ASSIGN_OR_RETURN(auto gpu, CudaContext::Create(mpi.local_rank()));  // one GPU per rank
//   ... every rank agrees that it is ready (AgreeOnStatus) ...
//   KILN_ASSIGN_OR_RETURN(std::unique_ptr<DeviceCommunicator> nccl, MakeNcclCommunicator(mpi));
//   KILN_RETURN_IF_ERROR(executable->BindCollectives(nccl.get()));
#ifndef KILN_RUNTIME_CUDA_DEVICE_COMMUNICATOR_H_
#define KILN_RUNTIME_CUDA_DEVICE_COMMUNICATOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/communicator.h"
#include "runtime/cuda/cuda_driver.h"

namespace kiln::runtime {

class DeviceCommunicator {
 public:
  virtual ~DeviceCommunicator() = default;
  virtual int world_size() const = 0;
  // A short name for messages: "nccl".
  virtual std::string backend() const = 0;
  // Enqueues on `stream`: data[0, count) (f32, device memory of the current context) becomes its
  // element-wise mean over the ranks. Every rank enqueues the same calls in the same order.
  virtual absl::Status AllReduceMean(CudaDevicePtr data, size_t count, CudaStream stream) = 0;
};

// OK when this kiln was built with NCCL's header and libnccl.so.2 (2.10 or later, for ncclAvg)
// loads; otherwise one line saying what is missing.
absl::Status ProbeNccl();

// NCCL over the ranks of `host`, on the device whose context is current on this thread (each
// rank's CudaContext::Create(host.local_rank())). Collective: every rank calls it at the same
// point, after the ranks have agreed that they are ready, since a rank that never arrives leaves
// the others waiting. Rank 0 makes NCCL's unique id and `host` broadcasts it.
absl::StatusOr<std::unique_ptr<DeviceCommunicator>> MakeNcclCommunicator(Communicator& host);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_CUDA_DEVICE_COMMUNICATOR_H_
