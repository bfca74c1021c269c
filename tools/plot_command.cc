// `kiln plot METRICS.json... [-o FILE.svg] [--title TEXT]`: the loss and accuracy curves of one
// or more --metrics-out files as an SVG (tools/metrics_plot.h), several files compared in one.
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "support/command_line.h"
#include "support/file_io.h"
#include "support/status.h"
#include "tools/commands.h"
#include "tools/metrics_plot.h"

namespace kiln::tools {
namespace {

absl::Status Plot(const std::vector<std::string>& args) {
  KILN_ASSIGN_OR_RETURN(CommandLine line, CommandLine::Parse(args, {"output", "title"}));
  if (line.positional().empty()) {
    return absl::InvalidArgumentError("usage: kiln plot METRICS.json... [-o FILE.svg]");
  }
  std::vector<PlotRun> runs;
  std::vector<std::string> names;
  for (const std::string& path : line.positional()) {
    KILN_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    absl::StatusOr<std::vector<runtime::EpochMetrics>> epochs = ParseMetricsJson(text);
    if (!epochs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": not a kiln metrics file: ", epochs.status().message()));
    }
    // The file's name without its folder and ".json" names the run in the legend.
    names.push_back(std::filesystem::path(path).stem().string());
    runs.push_back({names.back(), *std::move(epochs)});
  }
  // Files with one name in several folders (kiln tune's trial_<i>/metrics.json) are named by
  // their folders instead.
  if (std::set<std::string>(names.begin(), names.end()).size() < names.size()) {
    for (size_t i = 0; i < runs.size(); ++i) {
      names[i] = std::filesystem::path(line.positional()[i]).parent_path().filename().string();
      runs[i].name = names[i];
    }
  }
  const std::string title = line.String("title").value_or(
      absl::StrCat(absl::StrJoin(names, " vs "), ": loss and accuracy by epoch"));
  // Default: beside the first file, its ".json" replaced by ".svg".
  const std::string output = line.String("output").value_or(
      std::filesystem::path(line.positional()[0]).replace_extension(".svg").string());
  KILN_RETURN_IF_ERROR(WriteCommandOutput(RenderMetricsSvg(runs, title), output));
  if (output != "-") std::cerr << "kiln: wrote " << output << "\n";
  return absl::OkStatus();
}

}  // namespace

int PlotCommand(const std::vector<std::string>& args) { return ExitStatus(Plot(args)); }

}  // namespace kiln::tools
