// The runtime side of data-parallel training: what ranks of one job say to each other. The
// compiler puts all_reduce ops in the step graph (passes/data_parallel.h); generated code calls
// the communicator bound into its KilnParallel table (runtime/kernel_abi.h) and never links MPI
// or NCCL itself.
//
//   runtime::LocalCommunicator comm;                  // one process: world size 1
//   KilnParallel table = runtime::BindCommunicator(*pool.parallel(), comm);
//   entry.Run(&table);                                // all_reduce ops call comm.AllReduceMean
//
// Only the single-process implementation exists; MPI (mpirun) and NCCL backends are to come
// (docs/distributed.md).
#ifndef KILN_RUNTIME_COMMUNICATOR_H_
#define KILN_RUNTIME_COMMUNICATOR_H_

#include <cstddef>
#include <span>

#include "absl/status/status.h"
#include "runtime/kernel_abi.h"

namespace kiln::runtime {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;        // 0 .. world_size() - 1.
  virtual int world_size() const = 0;  // Ranks in the job, >= 1.

  // Replaces `data` on every rank by its elementwise mean over the ranks. Every rank calls the
  // collectives in the same order with buffers of the same size.
  virtual absl::Status AllReduceMean(std::span<float> data) = 0;
  // Replaces `data` on every rank by rank `root`'s bytes.
  virtual absl::Status Broadcast(std::span<std::byte> data, int root) = 0;
  // Returns once every rank has called it.
  virtual absl::Status Barrier() = 0;
};

// A job of one process: every collective leaves the data as it is.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  absl::Status AllReduceMean(std::span<float>) override { return absl::OkStatus(); }
  absl::Status Broadcast(std::span<std::byte>, int root) override;
  absl::Status Barrier() override { return absl::OkStatus(); }
};

// `base` with its collective hooks calling `comm` (which must outlive the table). A collective
// that fails inside generated code cannot return a Status through the C ABI: the hook reports
// the error on stderr and aborts, as MPI's default error handler does for the whole job.
KilnParallel BindCommunicator(const KilnParallel& base, Communicator& comm);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_COMMUNICATOR_H_
