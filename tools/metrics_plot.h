// Loss and accuracy by epoch as a self-contained SVG (`kiln plot`, `kiln train --plot`): train
// loss (solid) and test loss (dashed) on the left axis, test accuracy (dotted) on its own right
// axis, one colour per metric for a single run or one per run when several are compared, a
// legend, a title, and a ring on each run's lowest test loss (W2's "sweet spot", where the test
// loss turns up while the train loss still falls).
//
//   KILN_ASSIGN_OR_RETURN(std::vector<runtime::EpochMetrics> epochs, ParseMetricsJson(text));
//   std::string svg = RenderMetricsSvg({{"mlp", epochs}}, "mlp: loss and accuracy by epoch");
//
// Each series is one <polyline class="train-loss|test-loss|test-accuracy" data-run="NAME"> with
// a point per epoch whose value is finite; a metric no epoch has (no test set) is left out.
#ifndef KILN_TOOLS_METRICS_PLOT_H_
#define KILN_TOOLS_METRICS_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/trainer.h"

namespace kiln::tools {

struct PlotRun {
  std::string name;  // In the legend when several runs share the plot.
  std::vector<runtime::EpochMetrics> epochs;
};

// The epochs of a --metrics-out file ({"epochs":[{"epoch":1,"train_loss":..,...},...]}); null
// figures are NaN. Errors say what is wrong with the text, not where it came from.
absl::StatusOr<std::vector<runtime::EpochMetrics>> ParseMetricsJson(const std::string& json);

std::string RenderMetricsSvg(const std::vector<PlotRun>& runs, const std::string& title);

// `text` with &, <, > and " escaped, for SVG text and attribute values.
std::string SvgEscape(const std::string& text);

// Axis ticks: round numbers (1, 2 or 5 times a power of ten apart), about `target` of them,
// from at or below `lo` to at or above `hi`.
std::vector<double> NiceTicks(double lo, double hi, int target);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_METRICS_PLOT_H_
