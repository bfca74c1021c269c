// kiln train's progress bar: on a terminal, one line per epoch redrawn in place as steps finish,
// then replaced by the epoch's usual line (the trainer logs it after EpochProgress::End).
//
//   epoch 3/10 [#########...........]  212/469  85.3 steps/s  ETA 3s  loss 0.4321
//
// Each redraw starts with a carriage return and pads with spaces over a longer earlier line,
// so it needs no terminal escape codes; End blanks the line and returns the cursor to its
// start. Redraws are at most one per kRedrawInterval (the first and last step always draw), so
// a fast epoch costs a few writes, not one per step.
#ifndef KILN_TOOLS_TRAIN_PROGRESS_H_
#define KILN_TOOLS_TRAIN_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/trainer.h"
#include "support/command_line.h"

namespace kiln::tools {

inline constexpr std::chrono::milliseconds kRedrawInterval{100};

class ProgressBar : public runtime::EpochProgress {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `epochs` is the run's last epoch (for "epoch 3/10"); `clock` is replaceable for tests.
  ProgressBar(std::ostream& out, int64_t epochs, Clock clock = std::chrono::steady_clock::now);
  ~ProgressBar() override;

  void Begin(int64_t epoch, int64_t steps) override;
  void Step(int64_t step, double loss) override;
  void End() override;

  // Ends a bar left drawn by a failed epoch with a newline, so an error printed next (to
  // stderr, on the same terminal) starts on a line of its own.
  void Abandon();

 private:
  void Draw(int64_t step);

  std::ostream& out_;
  int64_t epochs_;
  Clock clock_;
  int64_t epoch_ = 0;
  int64_t steps_ = 0;
  double loss_sum_ = 0.0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  size_t drawn_width_ = 0;  // Characters on the line now; 0: nothing drawn.
};

// The bar's text for `step` of `steps` after `seconds`, with the steps' mean loss.
std::string FormatProgress(int64_t epoch, int64_t epochs, int64_t step, int64_t steps,
                           double seconds, double mean_loss);

// --progress draws the bar, --quiet does not; without either, it is drawn when stdout is a
// terminal, so logs and pipes keep one line per epoch. Returns null when there is no bar, else
// the bar, attached to run.progress.
absl::StatusOr<std::unique_ptr<ProgressBar>> AttachProgress(const CommandLine& line,
                                                            runtime::TrainOptions& run);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TRAIN_PROGRESS_H_
