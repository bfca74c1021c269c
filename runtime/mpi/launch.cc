#include "runtime/mpi/mpi_communicator.h"

namespace kiln::runtime {

absl::StatusOr<std::unique_ptr<Communicator>> MakeLaunchCommunicator() {
  if (!LaunchedUnderMpi()) return MakeLocalCommunicator();
  if (!MpiAvailable()) {
    return absl::FailedPreconditionError(
        "started with several ranks (mpirun/srun), but this kiln was built without MPI; install "
        "libopenmpi-dev and rebuild (docs/distributed.md)");
  }
  return MakeMpiCommunicator();
}

}  // namespace kiln::runtime
