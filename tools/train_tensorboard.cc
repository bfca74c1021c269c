#include "tools/train_tensorboard.h"

#include <cmath>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "runtime/tensorboard.h"
#include "support/status.h"

namespace kiln::tools {

class TensorBoardLog {
 public:
  TensorBoardLog(std::unique_ptr<runtime::EventFileWriter> writer, int64_t log_every,
                 runtime::LrSchedule schedule, double base_learning_rate)
      : writer_(std::move(writer)),
        log_every_(log_every),
        schedule_(schedule),
        base_learning_rate_(base_learning_rate) {}

  void Epoch(const runtime::EpochMetrics& metrics) {
    const int64_t epoch = metrics.epoch;
    Scalar("epoch/train_loss", epoch, metrics.train_loss);
    Scalar("epoch/test_loss", epoch, metrics.test_loss);
    Scalar("epoch/test_accuracy", epoch, metrics.test_accuracy);
    Scalar("epoch/learning_rate", epoch,
           runtime::ScheduledLearningRate(schedule_, base_learning_rate_, epoch));
    Scalar("epoch/seconds", epoch, metrics.seconds);
    Note(writer_->Flush());
  }

  void Step(int64_t global_step, double loss) {
    if (log_every_ > 0 && global_step % log_every_ == 0)
      Scalar("step/train_loss", global_step, loss);
  }

  const absl::Status& status() const { return status_; }

 private:
  // NaN marks a figure the run does not have (no test set, no accuracy output): not logged.
  void Scalar(const char* tag, int64_t step, double value) {
    if (std::isnan(value)) return;
    Note(writer_->WriteScalar(tag, step, static_cast<float>(value)));
  }
  void Note(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }

  std::unique_ptr<runtime::EventFileWriter> writer_;
  int64_t log_every_;
  runtime::LrSchedule schedule_;
  double base_learning_rate_;
  absl::Status status_;
};

absl::StatusOr<std::shared_ptr<TensorBoardLog>> AttachTensorBoard(const CommandLine& line,
                                                                  runtime::TrainOptions& run) {
  KILN_ASSIGN_OR_RETURN(std::optional<int64_t> log_every, line.Int("log-every"));
  const std::optional<std::string> dir = line.String("tensorboard");
  if (!dir) {
    if (log_every) return absl::InvalidArgumentError("--log-every needs --tensorboard DIR");
    return nullptr;
  }
  if (log_every.value_or(0) < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--log-every %d: expected 0 (epochs only) or a step count", *log_every));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<runtime::EventFileWriter> writer,
                        runtime::EventFileWriter::Create(*dir));
  std::cout << absl::StrFormat("kiln: TensorBoard events to %s\n", writer->path());
  auto log = std::make_shared<TensorBoardLog>(
      std::move(writer), log_every.value_or(kDefaultLogEvery), run.schedule, run.learning_rate);
  run.on_epoch = [log, then = std::move(run.on_epoch)](const runtime::EpochMetrics& metrics) {
    log->Epoch(metrics);
    if (then) then(metrics);
  };
  run.on_step = [log, then = std::move(run.on_step)](int64_t global_step, double loss) {
    log->Step(global_step, loss);
    if (then) then(global_step, loss);
  };
  return log;
}

absl::Status TensorBoardStatus(const std::shared_ptr<TensorBoardLog>& log) {
  return log == nullptr ? absl::OkStatus() : log->status();
}

}  // namespace kiln::tools
