// kiln train's progress bar (tools/train_progress.h) drawn against a fake clock: the text of a
// redraw, the throttle, the padding over a longer line and the erase before the epoch line.
#include "tools/train_progress.h"

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace kiln::tools {
namespace {

using std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

TEST(FormatProgressTest, ShowsStepsRateEtaAndLoss) {
  // 120 of 480 steps in 2 s: 60 steps/s, 360 steps left = 6 s.
  EXPECT_EQ(FormatProgress(2, 10, 120, 480, 2.0, 0.43216),
            "epoch 2/10 [#####...............] 120/480  60.0 steps/s  ETA 6s  loss 0.4322");
  // Step counts are right-aligned to the total's width, so the line does not jitter.
  EXPECT_EQ(FormatProgress(1, 3, 7, 1000, 0.0, 1.0),
            "epoch 1/3 [....................]    7/1000  loss 1.0000");
  EXPECT_EQ(FormatProgress(1, 1, 100, 5000, 1.0, 0.5),
            "epoch 1/1 [....................]  100/5000  100.0 steps/s  ETA 49s  loss 0.5000");
  EXPECT_NE(FormatProgress(1, 1, 1, 7201, 1.0, 0.5).find("ETA 2h00m"), std::string::npos);
}

// A clock the test moves by hand.
struct FakeClock {
  TimePoint now{};
  ProgressBar::Clock Function() {
    return [this] { return now; };
  }
};

TEST(ProgressBarTest, RedrawsAtMostTenTimesASecondThenErases) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, 2, clock.Function());
  bar.Begin(1, 100);
  // 100 steps 5 ms apart: 0.5 s, so step 1, about one step in 20 and step 100 draw.
  for (int step = 1; step <= 100; ++step) {
    clock.now += milliseconds(5);
    bar.Step(step, 1.0 / step);
  }
  bar.End();
  const std::string text = out.str();
  std::vector<std::string> draws = absl::StrSplit(text, '\r', absl::SkipEmpty());
  // The last piece is the blank that End writes.
  ASSERT_GE(draws.size(), 3u) << text;
  EXPECT_EQ(draws.back().find_first_not_of(' '), std::string::npos) << text;
  draws.pop_back();
  EXPECT_LE(draws.size(), 7u) << "more than one redraw per 100 ms:\n" << text;
  EXPECT_EQ(draws.front().rfind("epoch 1/2 [....................]   1/100", 0), 0u) << text;
  EXPECT_EQ(
      draws.back().rfind("epoch 1/2 [####################] 100/100  200.0 steps/s  ETA 0s", 0), 0u)
      << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << "a bar is one line";
  EXPECT_EQ(text.back(), '\r') << "End leaves the cursor at the line's start";
}

TEST(ProgressBarTest, PadsOverALongerEarlierLine) {
  std::ostringstream out;
  FakeClock clock;
  ProgressBar bar(out, 1, clock.Function());
  bar.Begin(1, 2);
  clock.now += milliseconds(1);
  bar.Step(1, 1.0);  // "1000.0 steps/s" is wider than the next draw's "0.0 steps/s".
  clock.now += std::chrono::seconds(200);
  bar.Step(2, 1.0);
  std::vector<std::string> draws = absl::StrSplit(out.str(), '\r', absl::SkipEmpty());
  ASSERT_EQ(draws.size(), 2u) << out.str();
  EXPECT_GE(draws[1].size(), draws[0].size()) << out.str();
}

TEST(ProgressBarTest, AbandonedBarEndsWithANewline) {
  std::ostringstream out;
  FakeClock clock;
  {
    ProgressBar bar(out, 1, clock.Function());
    bar.Begin(1, 10);
    bar.Step(1, 2.0);
  }  // An epoch that failed: no End.
  EXPECT_EQ(out.str().back(), '\n');
}

}  // namespace
}  // namespace kiln::tools
