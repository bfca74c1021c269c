#include "tools/tune/asha.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"

namespace kiln::tools {

absl::StatusOr<AshaScheduler> AshaScheduler::Create(const AshaOptions& options) {
  if (options.grace_period < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--grace-period %d: expected at least 1 epoch", options.grace_period));
  }
  if (options.reduction_factor < 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--reduction-factor %d: expected at least 2", options.reduction_factor));
  }
  if (options.max_epochs < options.grace_period) {
    return absl::InvalidArgumentError(absl::StrFormat("--max-epochs %d is below --grace-period %d",
                                                      options.max_epochs, options.grace_period));
  }
  return AshaScheduler(options);
}

AshaScheduler::AshaScheduler(const AshaOptions& options) : options_(options) {
  for (int64_t milestone = options.grace_period; milestone < options.max_epochs;
       milestone *= options.reduction_factor) {
    rungs_.push_back(milestone);
  }
  recorded_.resize(rungs_.size());
}

double AshaScheduler::Score(double value) const {
  if (std::isnan(value)) return std::numeric_limits<double>::infinity();
  return options_.minimize ? value : -value;
}

bool AshaScheduler::RecordAndJudge(size_t k, int trial, double score) {
  std::map<int, double>& rung = recorded_[k];
  rung.emplace(trial, score);  // A repeated report keeps the first.
  std::vector<std::pair<double, int>> ranked;
  for (const auto& [id, s] : rung) ranked.emplace_back(s, id);
  std::sort(ranked.begin(), ranked.end());  // Best first; equal scores: lower trial id first.
  const size_t keep =
      std::max<size_t>(1, ranked.size() / static_cast<size_t>(options_.reduction_factor));
  for (size_t rank = 0; rank < keep; ++rank) {
    if (ranked[rank].second == trial) return std::isfinite(rung.at(trial));
  }
  return false;
}

AshaScheduler::Decision AshaScheduler::OnResult(int trial, int64_t epoch, double value) {
  if (epoch >= options_.max_epochs) return Decision::kStop;
  for (size_t k = 0; k < rungs_.size(); ++k) {
    if (rungs_[k] != epoch) continue;
    return RecordAndJudge(k, trial, Score(value)) ? Decision::kContinue : Decision::kStop;
  }
  return Decision::kContinue;
}

void AshaScheduler::OnFailure(int trial, int64_t epochs_done) {
  for (size_t k = 0; k < rungs_.size(); ++k) {
    if (rungs_[k] <= epochs_done) continue;
    recorded_[k].emplace(trial, std::numeric_limits<double>::infinity());
    return;
  }
}

std::map<int, double> AshaScheduler::Recorded(int64_t rung) const {
  for (size_t k = 0; k < rungs_.size(); ++k) {
    if (rungs_[k] == rung) return recorded_[k];
  }
  return {};
}

}  // namespace kiln::tools
