// End-to-end: kiln train's progress bar with the real binary. Its output goes to a file here, as
// into a pipe or a CI log: without --progress it is one line per epoch; with it, each epoch's
// line is preceded by carriage-return redraws of the bar.
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

using e2e::Describe;
using e2e::RunKiln;
using e2e::RunResult;

// Synthetic data: 900 training samples in batches of 100, 9 steps an epoch, 3 epochs.
constexpr char kModel[] = "examples/binary_classifier.kiln";

const std::regex kEpochLine(R"(epoch [123]/3  train_loss \d+\.\d+  test_loss .*)");
const std::regex kBar(
    R"(epoch ([123])/3 \[[#.]{20}\] ([1-9])/9(  \d+\.\d steps/s  ETA \w+)?  loss \d+\.\d{4} *)");

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(TrainProgressTest, NotATerminalMeansOneLinePerEpoch) {
  for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--quiet"}}) {
    std::vector<std::string> args = {"train", kModel};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult run = RunKiln(args);
    ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
    EXPECT_EQ(run.out.find('\r'), std::string::npos) << run.out;
    int epoch_lines = 0;
    for (const std::string& line : Lines(run.out)) {
      epoch_lines += std::regex_match(line, kEpochLine);
    }
    EXPECT_EQ(epoch_lines, 3) << run.out;
  }
}

TEST(TrainProgressTest, ProgressRedrawsTheBarThenPrintsTheEpochLine) {
  RunResult run = RunKiln({"train", kModel, "--progress"});
  ASSERT_TRUE(e2e::Succeeded(run)) << Describe(run);
  int epoch = 0;
  for (const std::string& line : Lines(run.out)) {
    if (line.find('\r') == std::string::npos) continue;
    ++epoch;
    // Redraws of this epoch's bar, the blank that erases it, then the usual epoch line.
    std::vector<std::string> pieces = absl::StrSplit(line, '\r', absl::SkipEmpty());
    ASSERT_GE(pieces.size(), 3u) << line;
    EXPECT_TRUE(std::regex_match(pieces.back(), kEpochLine)) << pieces.back();
    EXPECT_EQ(pieces.back().rfind("epoch " + std::to_string(epoch) + "/3", 0), 0u) << line;
    EXPECT_EQ(pieces[pieces.size() - 2].find_first_not_of(' '), std::string::npos) << line;
    int last_step = 0;
    for (size_t i = 0; i + 2 < pieces.size(); ++i) {
      std::smatch bar;
      ASSERT_TRUE(std::regex_match(pieces[i], bar, kBar)) << "'" << pieces[i] << "'";
      EXPECT_EQ(std::stoi(bar[1]), epoch);
      EXPECT_GT(std::stoi(bar[2]), last_step) << "steps only go forward";
      last_step = std::stoi(bar[2]);
    }
    EXPECT_EQ(last_step, 9) << "the last step is always drawn";
  }
  EXPECT_EQ(epoch, 3) << run.out;
}

TEST(TrainProgressTest, ProgressAndQuietContradict) {
  RunResult run = RunKiln({"train", kModel, "--progress", "--quiet"});
  EXPECT_EQ(run.exit_code, 1) << Describe(run);
  EXPECT_EQ(run.err, "kiln: --progress and --quiet contradict each other\n");
}

}  // namespace
}  // namespace kiln
