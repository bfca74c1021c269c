// The MPI backend of runtime::Communicator, in a library of its own (kiln_runtime_mpi): the kiln
// command and its tests link it; AOT-built programs link kiln_runtime alone and so need no MPI.
// Without MPI at configure time the library still exists, and says so (no_mpi.cc).
#ifndef KILN_RUNTIME_MPI_MPI_COMMUNICATOR_H_
#define KILN_RUNTIME_MPI_MPI_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/communicator.h"

namespace kiln::runtime {

// True when this kiln was built with the MPI backend.
bool MpiAvailable();

// Initializes MPI (once per process; finalized at exit) and returns a communicator over
// MPI_COMM_WORLD; an error when kiln was built without MPI.
absl::StatusOr<std::unique_ptr<Communicator>> MakeMpiCommunicator();

// The communicator of this process: MakeMpiCommunicator's when LaunchedUnderMpi() (an error when
// kiln was built without MPI), else MakeLocalCommunicator's world of one.
absl::StatusOr<std::unique_ptr<Communicator>> MakeLaunchCommunicator();

}  // namespace kiln::runtime

#endif  // KILN_RUNTIME_MPI_MPI_COMMUNICATOR_H_
