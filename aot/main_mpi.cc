// main() of the programs `kiln build --ranks N` writes: started by mpirun/srun, `train` is one
// rank of a data-parallel run over MPI (kiln_runtime_mpi).
#include "aot/program_commands.h"
#include "runtime/mpi/mpi_communicator.h"

int main(int argc, char** argv) {
  return kiln::aot::ProgramMain(argc, argv, &kiln::runtime::MakeLaunchCommunicator);
}
