#include "tools/train_plot.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "support/file_io.h"
#include "tools/metrics_plot.h"

namespace kiln::tools {

class TrainPlot {
 public:
  TrainPlot(std::string path, std::string model, std::vector<runtime::EpochMetrics> history)
      : path_(std::move(path)), run_{std::move(model), std::move(history)} {}

  void Epoch(const runtime::EpochMetrics& metrics) {
    run_.epochs.push_back(metrics);
    absl::Status written = WriteFileAtomically(
        path_, RenderMetricsSvg({run_}, absl::StrCat(run_.name, ": loss and accuracy by epoch")));
    if (status_.ok()) status_ = std::move(written);
  }

  const absl::Status& status() const { return status_; }

 private:
  std::string path_;
  PlotRun run_;
  absl::Status status_;
};

absl::StatusOr<std::shared_ptr<TrainPlot>> AttachPlot(const CommandLine& line,
                                                      runtime::TrainOptions& run) {
  const std::optional<std::string> path = line.String("plot");
  if (!path) return nullptr;
  auto plot = std::make_shared<TrainPlot>(*path, run.model_name, run.history);
  run.on_epoch = [plot, then = std::move(run.on_epoch)](const runtime::EpochMetrics& metrics) {
    plot->Epoch(metrics);
    if (then) then(metrics);
  };
  return plot;
}

absl::Status PlotStatus(const std::shared_ptr<TrainPlot>& plot) {
  return plot == nullptr ? absl::OkStatus() : plot->status();
}

}  // namespace kiln::tools
