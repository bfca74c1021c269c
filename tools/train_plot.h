// `kiln train --plot FILE.svg`: after every epoch, the run's curves so far (a resumed run's
// earlier epochs included) redrawn to FILE.svg (tools/metrics_plot.h), replaced atomically so a
// browser or viewer never sees half a file.
#ifndef KILN_TOOLS_TRAIN_PLOT_H_
#define KILN_TOOLS_TRAIN_PLOT_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/trainer.h"
#include "support/command_line.h"

namespace kiln::tools {

// The history drawn so far and the first error a write reported (the trainer's callbacks cannot
// return one).
class TrainPlot;

// With --plot, chains the drawing into run.on_epoch; returns null without the flag. Call after
// `run` is final (after a resume filled its history).
absl::StatusOr<std::shared_ptr<TrainPlot>> AttachPlot(const CommandLine& line,
                                                      runtime::TrainOptions& run);
absl::Status PlotStatus(const std::shared_ptr<TrainPlot>& plot);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TRAIN_PLOT_H_
