#include "tools/train_progress.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/str_format.h"

namespace kiln::tools {
namespace {

constexpr int kBarWidth = 20;

// "4s", "2m05s", "1h02m": short enough to keep the line under 80 columns.
std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
}

}  // namespace

std::string FormatProgress(int64_t epoch, int64_t epochs, int64_t step, int64_t steps,
                           double seconds, double mean_loss) {
  const int filled = steps > 0 ? static_cast<int>(kBarWidth * step / steps) : kBarWidth;
  const std::string bar = std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  std::string text =
      absl::StrFormat("epoch %d/%d [%s] %*d/%d", epoch, epochs, bar,
                      static_cast<int>(absl::StrFormat("%d", steps).size()), step, steps);
  if (seconds > 0) {
    const double rate = step / seconds;
    absl::StrAppendFormat(&text, "  %.1f steps/s  ETA %s", rate,
                          FormatDuration((steps - step) / rate));
  }
  absl::StrAppendFormat(&text, "  loss %.4f", mean_loss);
  return text;
}

ProgressBar::ProgressBar(std::ostream& out, int64_t epochs, Clock clock)
    : out_(out), epochs_(epochs), clock_(std::move(clock)) {}

ProgressBar::~ProgressBar() { Abandon(); }

void ProgressBar::Begin(int64_t epoch, int64_t steps) {
  epoch_ = epoch;
  steps_ = steps;
  loss_sum_ = 0.0;
  start_ = clock_();
}

void ProgressBar::Step(int64_t step, double loss) {
  loss_sum_ += loss;
  const std::chrono::steady_clock::time_point now = clock_();
  if (step != 1 && step != steps_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  Draw(step);
}

void ProgressBar::Draw(int64_t step) {
  const double seconds = std::chrono::duration<double>(last_draw_ - start_).count();
  std::string text = FormatProgress(epoch_, epochs_, step, steps_, seconds, loss_sum_ / step);
  const size_t width = text.size();
  // Spaces over whatever a longer earlier line left, so no escape codes are needed.
  if (width < drawn_width_) text.append(drawn_width_ - width, ' ');
  out_ << '\r' << text << std::flush;
  drawn_width_ = width;
}

void ProgressBar::End() {
  if (drawn_width_ == 0) return;
  out_ << '\r' << std::string(drawn_width_, ' ') << '\r' << std::flush;
  drawn_width_ = 0;
}

void ProgressBar::Abandon() {
  if (drawn_width_ == 0) return;
  out_ << '\n' << std::flush;
  drawn_width_ = 0;
}

absl::StatusOr<std::unique_ptr<ProgressBar>> AttachProgress(const CommandLine& line,
                                                            runtime::TrainOptions& run) {
  if (line.Has("progress") && line.Has("quiet")) {
    return absl::InvalidArgumentError("--progress and --quiet contradict each other");
  }
  const bool draw = line.Has("progress") || (!line.Has("quiet") && isatty(STDOUT_FILENO) == 1);
  if (!draw) return nullptr;
  auto bar = std::make_unique<ProgressBar>(std::cout, run.epochs);
  run.progress = bar.get();
  return bar;
}

}  // namespace kiln::tools
