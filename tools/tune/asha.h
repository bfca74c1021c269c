// The ASHA early-stopping rule (asynchronous successive halving; Li et al., "A System for
// Massively Parallel Hyperparameter Tuning", MLSys 2020) as Ray Tune's ASHAScheduler applies it:
// trials report their metric after every epoch; at a rung (epoch grace * rf^k, below
// max_epochs) the report is recorded, and the trial continues only if it is among the best
// 1/rf of all trials recorded at that rung so far — otherwise it stops there.
//
//   AshaScheduler asha({.grace_period = 1, .reduction_factor = 2, .max_epochs = 8});
//   asha.OnResult(trial, epoch, test_loss);   // kContinue or kStop
//   asha.OnFailure(trial, epochs_done);       // a crashed trial: worst at its next rung
//
// Precisely: with n values recorded at a rung (this one included), the trial continues iff its
// rank there is below max(1, floor(n / rf)), ranks ordered best first and ties broken by the
// lower trial id (so decisions do not depend on timing beyond the order of reports). NaN and
// failed trials count as the worst value. Being asynchronous, an early trial can continue past
// a rung that later, better trials would have closed to it: the price of never waiting.
#ifndef KILN_TOOLS_TUNE_ASHA_H_
#define KILN_TOOLS_TUNE_ASHA_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::tools {

struct AshaOptions {
  int64_t grace_period = 1;      // Epochs before the first rung.
  int64_t reduction_factor = 2;  // rf: rungs grow by it; 1/rf of the trials pass each.
  int64_t max_epochs = 10;       // A trial that reaches it is done.
  bool minimize = true;          // --mode min (a loss) or max (an accuracy).
};

class AshaScheduler {
 public:
  enum class Decision { kContinue, kStop };

  // Checks the options (grace period >= 1, reduction factor >= 2, max epochs >= grace period).
  static absl::StatusOr<AshaScheduler> Create(const AshaOptions& options);

  // The rung milestones: grace * rf^k for every k with the milestone below max_epochs.
  const std::vector<int64_t>& rungs() const { return rungs_; }

  // `trial` finished `epoch` with `value`. kStop: stop it now (at a rung it did not pass, or at
  // max_epochs). A second report of a rung's epoch by the same trial is not recorded again.
  Decision OnResult(int trial, int64_t epoch, double value);

  // `trial` failed after `epochs_done` epochs: it counts as the worst at the first rung it had
  // not reached, so it takes a place there as the others are ranked.
  void OnFailure(int trial, int64_t epochs_done);

  // What was recorded at rung `rung` (a milestone epoch), by trial, as scores: smaller is
  // better (negated under --mode max), NaN and failures +infinity. A worst score never passes.
  std::map<int, double> Recorded(int64_t rung) const;

 private:
  explicit AshaScheduler(const AshaOptions& options);
  // The value with NaN made the worst and "larger is better" folded into "smaller is better".
  double Score(double value) const;
  // Records `score` for `trial` at rung index `k` (once) and says whether it passes.
  bool RecordAndJudge(size_t k, int trial, double score);

  AshaOptions options_;
  std::vector<int64_t> rungs_;
  std::vector<std::map<int, double>> recorded_;  // Per rung: trial -> score.
};

}  // namespace kiln::tools

#endif  // KILN_TOOLS_TUNE_ASHA_H_
