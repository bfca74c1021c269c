// The commands of a program `kiln build` writes: `PROGRAM train|eval|predict|info`. Each returns
// OK or the one-line error main prints before exiting 1.
#ifndef KILN_AOT_PROGRAM_COMMANDS_H_
#define KILN_AOT_PROGRAM_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::aot {

absl::Status TrainProgram(const std::vector<std::string>& args);
absl::Status EvalProgram(const std::vector<std::string>& args);
absl::Status PredictProgram(const std::vector<std::string>& args);
absl::Status InfoProgram(const std::vector<std::string>& args);

// The --help text, with the model's name and data source filled in.
std::string ProgramHelp(const std::string& program);

}  // namespace kiln::aot

#endif  // KILN_AOT_PROGRAM_COMMANDS_H_
