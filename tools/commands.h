// The `kiln` subcommands. Each returns the process exit status; errors are printed as one
// message (with file:line:col and a caret for model-file errors).
#ifndef KILN_TOOLS_COMMANDS_H_
#define KILN_TOOLS_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace kiln::tools {

// A command's exit status: 0, or 1 after printing "kiln: <message>" to stderr.
int ExitStatus(const absl::Status& status);

int TrainCommand(const std::vector<std::string>& args);
int CompileCommand(const std::vector<std::string>& args);
int ProfileCommand(const std::vector<std::string>& args);
int BenchCommand(const std::vector<std::string>& args);
int OptCommand(const std::vector<std::string>& args);
int BuildCommand(const std::vector<std::string>& args);
int PlotCommand(const std::vector<std::string>& args);
int TuneCommand(const std::vector<std::string>& args);
int ImportCommand(const std::vector<std::string>& args);
int ExportCommand(const std::vector<std::string>& args);
int RunCommand(const std::vector<std::string>& args);
int PredictCommand(const std::vector<std::string>& args);
int FeaturesCommand(const std::vector<std::string>& args);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_COMMANDS_H_
