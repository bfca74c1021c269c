// The ASHA rule (tools/tune/asha.h) driven with synthetic learning curves; every expected
// decision is worked out by hand in the comments from the rule "continue iff rank <
// max(1, floor(n / rf)) among the n recorded at the rung, ties to the lower trial id".
#include "tools/tune/asha.h"

#include <cmath>
#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

using Decision = AshaScheduler::Decision;
constexpr Decision kContinue = Decision::kContinue;
constexpr Decision kStop = Decision::kStop;

AshaScheduler Make(int64_t grace, int64_t rf, int64_t max_epochs, bool minimize = true) {
  auto asha = AshaScheduler::Create({.grace_period = grace,
                                     .reduction_factor = rf,
                                     .max_epochs = max_epochs,
                                     .minimize = minimize});
  EXPECT_TRUE(asha.ok()) << asha.status();
  return *std::move(asha);
}

TEST(AshaTest, RungsAreGraceTimesPowersOfTheReductionFactor) {
  EXPECT_EQ(Make(1, 2, 8).rungs(), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(Make(2, 3, 20).rungs(), (std::vector<int64_t>{2, 6, 18}));
  EXPECT_EQ(Make(1, 4, 16).rungs(), (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(Make(3, 2, 3).rungs().empty()) << "max_epochs is the end, not a rung";
}

TEST(AshaTest, RejectsBadOptions) {
  EXPECT_FALSE(AshaScheduler::Create({.grace_period = 0}).ok());
  EXPECT_FALSE(AshaScheduler::Create({.reduction_factor = 1}).ok());
  EXPECT_EQ(AshaScheduler::Create({.grace_period = 4, .max_epochs = 2}).status().message(),
            "--max-epochs 2 is below --grace-period 4");
}

TEST(AshaTest, PromotesTheTopOverReductionFactorAtEachRung) {
  AshaScheduler asha = Make(1, 2, 8);  // Rungs 1, 2, 4.
  // Rung 1. n=1, keep 1: the first trial passes alone.
  EXPECT_EQ(asha.OnResult(0, 1, 0.50), kContinue);
  // n=2, keep 1: 0.40 beats 0.50.
  EXPECT_EQ(asha.OnResult(1, 1, 0.40), kContinue);
  // n=3, keep 1: only trial 1 (0.40) passes; 0.60 is last.
  EXPECT_EQ(asha.OnResult(2, 1, 0.60), kStop);
  // n=4, keep 2: 0.40 (t1), 0.45 (t3) pass; t0 already went on (asynchronous: no recall).
  EXPECT_EQ(asha.OnResult(3, 1, 0.45), kContinue);
  // Epoch 3 is no rung.
  EXPECT_EQ(asha.OnResult(0, 3, 0.99), kContinue);
  // Rung 2. n=1: t0 passes.
  EXPECT_EQ(asha.OnResult(0, 2, 0.30), kContinue);
  // n=2, keep 1: 0.30 (t0) beats 0.35.
  EXPECT_EQ(asha.OnResult(1, 2, 0.35), kStop);
  // n=3, keep 1: t3 ties t0 at 0.30; the lower id, t0, keeps the place.
  EXPECT_EQ(asha.OnResult(3, 2, 0.30), kStop);
  // Rung 4 alone, then max_epochs ends it.
  EXPECT_EQ(asha.OnResult(0, 4, 0.20), kContinue);
  EXPECT_EQ(asha.OnResult(0, 8, 0.15), kStop);
  EXPECT_EQ(asha.Recorded(1), (std::map<int, double>{{0, 0.5}, {1, 0.4}, {2, 0.6}, {3, 0.45}}));
}

// Synthetic curves loss(e) = floor + scale / e, reported round-robin epoch by epoch as
// parallel trials would; returns the epochs each trial ran before it stopped.
std::vector<int64_t> RunCurves(AshaScheduler& asha, const std::vector<double>& floors,
                               int64_t max_epochs) {
  std::vector<int64_t> ran(floors.size(), 0);
  std::vector<bool> live(floors.size(), true);
  for (int64_t epoch = 1; epoch <= max_epochs; ++epoch) {
    for (size_t t = 0; t < floors.size(); ++t) {
      if (!live[t]) continue;
      ran[t] = epoch;
      const double loss = floors[t] + 1.0 / static_cast<double>(epoch);
      live[t] = asha.OnResult(static_cast<int>(t), epoch, loss) == kContinue;
    }
  }
  return ran;
}

TEST(AshaTest, SyntheticCurvesHalveAtEveryRung) {
  // Eight trials whose curves never cross; floors 0.8, 0.7, ..., 0.1 (trial 7 is best).
  // grace 1, rf 2, max 8: rungs 1, 2, 4. Reported in trial order each epoch:
  //  rung 1: t0 passes alone; t1 (better) passes (n=2, keep 1); t2 passes (n=3, keep 1,
  //   best); t3 (n=4, keep 2; best) passes; likewise each newcomer is the best so far and
  //   passes: all 8 continue (the asynchronous rule favours late, better trials).
  //  rung 2: the same order and the same argument: all 8 continue.
  //  rung 4: again every newcomer is the best so far: all continue to the end.
  AshaScheduler ascending = Make(1, 2, 8);
  EXPECT_EQ(RunCurves(ascending, {0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}, 8),
            (std::vector<int64_t>(8, 8)));
  // The same curves reported best first: at rung 1, t0 (0.1) passes alone; t1 (n=2, keep 1)
  // stops; t2 (n=3, keep 1) stops; t3 (n=4, keep 2: t0, t1) stops; t4 (n=5, keep 2) stops;
  // t5 (n=6, keep 3: t0, t1, t2) stops; t6, t7 likewise. t0 alone runs to the end.
  AshaScheduler descending = Make(1, 2, 8);
  EXPECT_EQ(RunCurves(descending, {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}, 8),
            (std::vector<int64_t>{8, 1, 1, 1, 1, 1, 1, 1}));
}

TEST(AshaTest, InterleavedCurvesStopTheLowerHalf) {
  // Floors 0.3, 0.1, 0.4, 0.2 (t1 best, then t3, t0, t2); rf 2, grace 1, max 4: rungs 1, 2.
  //  rung 1: t0 passes alone (n=1); t1 passes (n=2, keep 1, best); t2 stops (n=3, keep 1);
  //   t3 passes (n=4, keep 2: t1, t3).
  //  rung 2 (t0, t1, t3 report): t0 passes alone; t1 passes (n=2, best); t3 stops (n=3,
  //   keep 1: t1).
  //  epochs 3, 4: t0 and t1 run to max_epochs 4.
  AshaScheduler asha = Make(1, 2, 4);
  EXPECT_EQ(RunCurves(asha, {0.3, 0.1, 0.4, 0.2}, 4), (std::vector<int64_t>{4, 4, 1, 2}));
}

TEST(AshaTest, NanIsTheWorstAndNeverPasses) {
  AshaScheduler asha = Make(1, 2, 4);
  EXPECT_EQ(asha.OnResult(0, 1, NAN), kStop) << "alone at the rung, but NaN";
  // n=2, keep 1: 0.9 beats NaN.
  EXPECT_EQ(asha.OnResult(1, 1, 0.9), kContinue);
}

TEST(AshaTest, AFailedTrialTakesTheWorstPlaceAtItsNextRung) {
  AshaScheduler asha = Make(1, 2, 8);
  EXPECT_EQ(asha.OnResult(0, 1, 0.50), kContinue);
  EXPECT_EQ(asha.OnResult(1, 1, 0.60), kStop);  // n=2, keep 1.
  asha.OnFailure(2, 0);                         // Worst at rung 1: n=3.
  // n=4, keep 2: 0.50 (t0), 0.55 (t3) pass. Without the failure n=3 and t3 would stop.
  EXPECT_EQ(asha.OnResult(3, 1, 0.55), kContinue);
  // A failure after epoch 1 counts at rung 2.
  asha.OnFailure(0, 1);
  EXPECT_TRUE(std::isinf(asha.Recorded(2).at(0)));
  EXPECT_EQ(asha.OnResult(3, 2, 0.40), kContinue);  // n=2, keep 1: 0.40 beats infinity.
}

TEST(AshaTest, ModeMaxKeepsTheHighest) {
  AshaScheduler asha = Make(1, 2, 4, /*minimize=*/false);
  EXPECT_EQ(asha.OnResult(0, 1, 0.80), kContinue);
  EXPECT_EQ(asha.OnResult(1, 1, 0.90), kContinue);  // n=2, keep 1: 0.90 is the highest.
  EXPECT_EQ(asha.OnResult(2, 1, 0.85), kStop);      // n=3, keep 1: t1.
  EXPECT_EQ(asha.OnResult(3, 1, 0.95), kContinue);  // n=4, keep 2: t3, t1.
}

}  // namespace
}  // namespace kiln::tools
