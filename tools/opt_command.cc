// `kiln opt FILE.kir --passes=a,b,c`: reads a graph in the IR text format, runs registered passes
// on it (verifying the graph after each) and prints the result, as LLVM's opt does. Pass tests
// (tests/filecheck/) are this command's output checked by FileCheck.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_pipeline.h"
#include "passes/pass_registry.h"
#include "support/file_io.h"
#include "support/status.h"
#include "support/command_line.h"
#include "tools/commands.h"

namespace kiln::tools {
namespace {

constexpr char kOptUsage[] =
    "usage: kiln opt FILE.kir --passes=a,b,c [-o FILE] [--dump-passes] (kiln opt --list-passes)";

// The pipeline `--passes` names, in order; analyses write their reports to context.reports.
absl::StatusOr<passes::PassPipeline> BuildPipeline(const std::string& pass_list,
                                                   const passes::PassContext& context) {
  passes::PassPipeline pipeline("opt");
  for (absl::string_view name : absl::StrSplit(pass_list, ',', absl::SkipWhitespace())) {
    KILN_RETURN_IF_ERROR(passes::AddRegisteredPass(pipeline, name, context));
  }
  return pipeline;
}

absl::Status Opt(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line, CommandLine::Parse(args, {"passes", "output"},
                                                             {"dump-passes", "list-passes"}));
  if (line.Has("list-passes")) {
    std::cout << passes::DescribeRegisteredPasses();
    return absl::OkStatus();
  }
  if (line.positional().size() != 1) return absl::InvalidArgumentError(kOptUsage);
  const std::string& path = line.positional()[0];
  KILN_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  KILN_ASSIGN_OR_RETURN(ir::Graph graph, ir::ParseGraph(text, path));

  std::string reports;
  passes::PassContext context;
  context.reports = &reports;
  KILN_ASSIGN_OR_RETURN(passes::PassPipeline pipeline,
                        BuildPipeline(line.String("passes").value_or(""), context));
  if (line.Has("dump-passes")) pipeline.set_dump(&std::cerr);
  // Run verifies the parsed graph before the first pass, so an invalid input is reported as
  // such even with no passes.
  KILN_RETURN_IF_ERROR(pipeline.Run(graph));
  return WriteCommandOutput(ir::PrintGraph(graph) + reports, line.String("output").value_or(""));
}

}  // namespace

int OptCommand(const std::vector<std::string>& args) {
  return ExitStatus(Opt(args));
}

}  // namespace kiln::tools
