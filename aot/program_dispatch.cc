// main() of every program `kiln build` writes: the generated code and the model bundle are
// linked next to it; this picks the command.
#include <iostream>
#include <string>
#include <vector>

#include "aot/program_commands.h"

int main(int argc, char** argv) {
  std::string program = argc > 0 ? argv[0] : "program";
  if (size_t slash = program.rfind('/'); slash != std::string::npos) {
    program = program.substr(slash + 1);
  }
  std::vector<std::string> args(argv + (argc > 1 ? 2 : argc), argv + argc);
  const std::string command = argc > 1 ? argv[1] : "";
  if (command.empty() || command == "--help" || command == "-h" || command == "help") {
    (command.empty() ? std::cerr : std::cout) << kiln::aot::ProgramHelp(program);
    return command.empty() ? 1 : 0;
  }
  absl::Status status;
  if (command == "train") {
    status = kiln::aot::TrainProgram(args);
  } else if (command == "eval") {
    status = kiln::aot::EvalProgram(args);
  } else if (command == "predict") {
    status = kiln::aot::PredictProgram(args);
  } else if (command == "info") {
    status = kiln::aot::InfoProgram(args);
  } else {
    status = absl::InvalidArgumentError("unknown command '" + command +
                                        "' (expected train, eval, predict or info; see --help)");
  }
  if (status.ok()) return 0;
  std::cerr << program << ": " << status.message() << "\n";
  return 1;
}
