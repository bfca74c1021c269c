// The collectives data-parallel training needs, behind one interface so that generated code and
// the trainer never name a transport. Generated code reaches AllReduceMean through the kernel
// ABI; the trainer uses Broadcast, Barrier and AllGather for start-up checks and parameter sync.
//
//   std::unique_ptr<Communicator> comm = MakeLocalCommunicator();   // world 1, no-ops
//   absl::StatusOr<std::unique_ptr<Communicator>> mpi = MakeMpiCommunicator();  // runtime/mpi/
//   comm->AllReduceMean(grads.data(), grads.size());
//
// Every rank must call the same collectives in the same order with the same sizes: kiln's static
// step graph guarantees that for the step, the trainer for everything else.
#ifndef KILN_RUNTIME_COMMUNICATOR_H_
#define KILN_RUNTIME_COMMUNICATOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/kernel_abi.h"

namespace kiln::runtime {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // This rank's index among the ranks on its own machine: which GPU it takes (--device cuda).
  virtual int local_rank() const = 0;
  // A short name for messages: "local", "mpi".
  virtual std::string backend() const = 0;

  // Replaces data[0, count) on every rank with the element-wise mean over all ranks. The sum is
  // taken in rank order on every rank, so all ranks get bit-identical results.
  virtual absl::Status AllReduceMean(float* data, size_t count) = 0;
  // Replaces data[0, count) on every rank with the element-wise sum over all ranks.
  virtual absl::Status AllReduceSum(double* data, size_t count) = 0;
  // Copies bytes[0, size) of rank `root` to every other rank.
  virtual absl::Status Broadcast(void* bytes, size_t size, int root) = 0;
  // Returns every rank's `bytes`, indexed by rank; all ranks must pass the same size.
  virtual absl::StatusOr<std::vector<std::string>> AllGather(const std::string& bytes) = 0;
  virtual absl::Status Barrier() = 0;
  // Ends every rank of the job with `code` (MPI_Abort): one failing rank must not leave the
  // others waiting in a collective forever.
  [[noreturn]] virtual void Abort(int code) = 0;

  // What the gradient all-reduces of generated code (BindCommunicator's hook) cost this rank,
  // waiting for slower ranks included: for kiln train's closing line and benchmarks.
  struct AllReduceTally {
    int64_t calls = 0;
    int64_t values = 0;  // Summed over the calls.
    double seconds = 0.0;
  };
  const AllReduceTally& gradient_all_reduces() const { return tally_; }
  void CountGradientAllReduce(int64_t values, double seconds) {
    ++tally_.calls;
    tally_.values += values;
    tally_.seconds += seconds;
  }

 private:
  AllReduceTally tally_;
};

// A world of one: collectives return their input unchanged.
std::unique_ptr<Communicator> MakeLocalCommunicator();

// True when the environment says this process was started by mpirun/srun with more than one rank
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK...), so kiln should join the MPI world.
bool LaunchedUnderMpi();

// `base` with its collective hooks (KilnParallel::comm, all_reduce_mean) calling `comm`, which
// must outlive the table: generated code runs each all_reduce op's kernel, then hands the op's
// buffer to comm.AllReduceMean. A collective that fails inside generated code cannot return a
// Status through the C ABI: the hook prints the error and ends the job (Communicator::Abort).
KilnParallel BindCommunicator(const KilnParallel& base, Communicator& comm);

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_COMMUNICATOR_H_
