// The commands of a program `kiln build` writes: `PROGRAM train|eval|predict|info`. Each returns
// OK or the one-line error main prints before exiting 1.
#ifndef KILN_AOT_PROGRAM_COMMANDS_H_
#define KILN_AOT_PROGRAM_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/communicator.h"

namespace kiln::aot {

// How a program joins a data-parallel world: runtime::MakeLaunchCommunicator in programs built
// with kiln build --ranks N (main_mpi.cc, linked with MPI); null in the others (main.cc).
using LaunchFn = absl::StatusOr<std::unique_ptr<runtime::Communicator>> (*)();

// main(): runs the command argv[1] names; returns the exit status.
int ProgramMain(int argc, char** argv, LaunchFn launch);

// `train` as one rank of `world` (a world of one: one process).
absl::Status TrainProgram(const std::vector<std::string>& args, runtime::Communicator& world);
absl::Status EvalProgram(const std::vector<std::string>& args);
absl::Status PredictProgram(const std::vector<std::string>& args);
absl::Status InfoProgram(const std::vector<std::string>& args);

// The --help text, with the model's name and data source filled in.
std::string ProgramHelp(const std::string& program);

}  // namespace kiln::aot

#endif  // KILN_AOT_PROGRAM_COMMANDS_H_
