// kiln_runtime_mpi when CMake found no MPI (or -DKILN_WITH_MPI=OFF): every rank is alone.
#include "runtime/mpi/mpi_communicator.h"

namespace kiln::runtime {

bool MpiAvailable() { return false; }

absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator() {
  return absl::FailedPreconditionError(
      "this kiln was built without MPI; install libopenmpi-dev and reconfigure");
}

}  // namespace kiln::runtime
