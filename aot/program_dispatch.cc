// The main() of every program `kiln build` writes (main.cc, main_mpi.cc) comes here: the
// generated code and the model bundle are linked next to it; this picks the command.
#include <iostream>
#include <string>
#include <vector>

#include "aot/program_commands.h"
#include "runtime/data_parallel.h"

namespace kiln::aot {
namespace {

// The world `train` runs in: `launch`'s (programs built with --ranks), or one process.
absl::StatusOr<std::unique_ptr<runtime::Communicator>> JoinWorld(LaunchFn launch) {
  if (launch != nullptr) return launch();
  // Programs built without --ranks link no MPI: under mpirun each rank would train alone and
  // overwrite the others' metrics and checkpoints.
  if (runtime::LaunchedUnderMpi()) {
    return absl::FailedPreconditionError(
        "started with several ranks (mpirun/srun), but this program was built for one process; "
        "rebuild it with kiln build --ranks N (docs/distributed.md)");
  }
  return runtime::MakeLocalCommunicator();
}

}  // namespace

int ProgramMain(int argc, char** argv, LaunchFn launch) {
  std::string program = argc > 0 ? argv[0] : "program";
  if (size_t slash = program.rfind('/'); slash != std::string::npos) {
    program = program.substr(slash + 1);
  }
  std::vector<std::string> args(argv + (argc > 1 ? 2 : argc), argv + argc);
  const std::string command = argc > 1 ? argv[1] : "";
  if (command.empty() || command == "--help" || command == "-h" || command == "help") {
    (command.empty() ? std::cerr : std::cout) << ProgramHelp(program);
    return command.empty() ? 1 : 0;
  }
  auto print = [&](const absl::Status& status) {
    if (status.ok()) return 0;
    std::cerr << program << ": " << status.message() << "\n";
    return 1;
  };
  if (command == "train") {
    absl::StatusOr<std::unique_ptr<runtime::Communicator>> world = JoinWorld(launch);
    if (!world.ok()) return print(world.status());
    return runtime::FinishRank(**world, TrainProgram(args, **world), print);
  }
  absl::Status status;
  if (command == "eval") {
    status = EvalProgram(args);
  } else if (command == "predict") {
    status = PredictProgram(args);
  } else if (command == "info") {
    status = InfoProgram(args);
  } else {
    status = absl::InvalidArgumentError("unknown command '" + command +
                                        "' (expected train, eval, predict or info; see --help)");
  }
  return print(status);
}

}  // namespace kiln::aot
