// End-to-end: `kiln train --tensorboard DIR` with the real binary writes event files that an
// independent reader (tests/runtime/tfevents_reader.h) reads back, and a resumed run adds a file
// beside the first whose epochs and steps follow it, none repeated.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "tests/runtime/tfevents_reader.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

// Synthetic data (no data set to install): 900 training samples in batches of 100, 9 steps an
// epoch.
constexpr char kModel[] = "examples/binary_classifier.kiln";
constexpr int kStepsPerEpoch = 9;

// Every tag's steps, and every value of each (tag, step), over all event files of `dir`.
struct Logged {
  std::map<std::string, std::vector<int64_t>> steps;
  std::map<std::pair<std::string, int64_t>, float> values;
  int files = 0;
};

Logged ReadAll(const fs::path& dir) {
  Logged logged;
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    EXPECT_EQ(file.filename().string().rfind("events.out.tfevents.", 0), 0u) << file;
    std::string error;
    auto events = testing::ReadEventFile(ReadFile(file), &error);
    EXPECT_TRUE(events.has_value()) << file << ": " << error;
    if (!events || events->empty()) continue;
    ++logged.files;
    EXPECT_EQ(events->front().file_version, "brain.Event:2") << file;
    for (const testing::ReadEvent& event : *events) {
      if (!event.has_scalar) continue;
      logged.steps[event.tag].push_back(event.step);
      logged.values[{event.tag, event.step}] = event.value;
    }
  }
  return logged;
}

std::vector<int64_t> Range(int64_t first, int64_t last, int64_t stride = 1) {
  std::vector<int64_t> steps;
  for (int64_t step = first; step <= last; step += stride) steps.push_back(step);
  return steps;
}

RunResult Train(int epochs, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"train",     kModel, "--epochs", std::to_string(epochs),
                                   "--threads", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunKiln(args);
}

TEST(TensorBoardCliTest, EpochAndStepScalarsReadBack) {
  TempDir dir;
  const fs::path logdir = dir.path() / "runs" / "mlp";  // Created, parents too.
  RunResult r = Train(2, {"--tensorboard", logdir.string(), "--log-every", "4"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find("TensorBoard events to " + logdir.string() + "/events.out.tfevents."),
            std::string::npos)
      << Describe(r);

  Logged logged = ReadAll(logdir);
  EXPECT_EQ(logged.files, 1);
  for (const char* tag : {"epoch/train_loss", "epoch/test_loss", "epoch/test_accuracy",
                          "epoch/learning_rate", "epoch/seconds"}) {
    EXPECT_EQ(logged.steps[tag], Range(1, 2)) << tag;
  }
  EXPECT_EQ(logged.steps["step/train_loss"], Range(4, 2 * kStepsPerEpoch, 4));
  EXPECT_FLOAT_EQ((logged.values[{"epoch/learning_rate", 1}]), 0.01f);  // The model's rmsprop lr.
  // The values are the run's: its epoch lines print them to 4 places.
  for (int epoch : {1, 2}) {
    std::smatch match;
    const std::regex line("epoch " + std::to_string(epoch) +
                          "/2  train_loss (\\S+)  test_loss (\\S+)  test_acc (\\S+)");
    ASSERT_TRUE(std::regex_search(r.out, match, line)) << Describe(r);
    EXPECT_NEAR((logged.values[{"epoch/train_loss", epoch}]), std::stod(match[1]), 6e-5);
    EXPECT_NEAR((logged.values[{"epoch/test_loss", epoch}]), std::stod(match[2]), 6e-5);
    EXPECT_NEAR((logged.values[{"epoch/test_accuracy", epoch}]), std::stod(match[3]), 6e-5);
  }
}

// The first run stops after epoch 2 (global step 18); the resumed one, in the same DIR, adds a
// file of its own holding epoch 3 and steps 19..27 only.
TEST(TensorBoardCliTest, ResumedRunAppendsWithoutRepeatingSteps) {
  TempDir dir;
  const std::string logdir = dir.File("tb"), checkpoint = dir.File("run.ckpt");
  RunResult first =
      Train(2, {"--tensorboard", logdir, "--log-every", "1", "--checkpoint", checkpoint});
  ASSERT_TRUE(first.exited && first.exit_code == 0) << Describe(first);
  RunResult rest = Train(
      3, {"--tensorboard", logdir, "--log-every", "1", "--checkpoint", checkpoint, "--resume"});
  ASSERT_TRUE(rest.exited && rest.exit_code == 0) << Describe(rest);
  ASSERT_NE(rest.out.find("after epoch 2 of 3"), std::string::npos) << Describe(rest);

  Logged logged = ReadAll(logdir);
  EXPECT_EQ(logged.files, 2);
  std::vector<int64_t> epochs = logged.steps["epoch/train_loss"];
  std::vector<int64_t> steps = logged.steps["step/train_loss"];
  std::sort(epochs.begin(), epochs.end());
  std::sort(steps.begin(), steps.end());
  EXPECT_EQ(epochs, Range(1, 3));
  EXPECT_EQ(steps, Range(1, 3 * kStepsPerEpoch));
}

TEST(TensorBoardCliTest, LogEveryWithoutADirectoryIsAnError) {
  RunResult r = Train(1, {"--log-every", "5"});
  EXPECT_TRUE(r.exited && r.exit_code == 1) << Describe(r);
  EXPECT_NE(r.err.find("--log-every needs --tensorboard DIR"), std::string::npos) << Describe(r);
}

TEST(TensorBoardCliTest, ZeroLogsEpochsOnly) {
  TempDir dir;
  RunResult r = Train(1, {"--tensorboard", dir.File("tb"), "--log-every", "0"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  Logged logged = ReadAll(dir.File("tb"));
  EXPECT_EQ(logged.steps.count("step/train_loss"), 0u);
  EXPECT_EQ(logged.steps["epoch/train_loss"], Range(1, 1));
}

}  // namespace
}  // namespace kiln
