// End-to-end: `kiln train --checkpoint FILE [--resume]` with the real binary. A run interrupted
// after epoch 1 and resumed ends with exactly the parameters, optimizer state and metrics of a
// run that never stopped; corrupt or mismatched checkpoints are one-line errors with exit 1.
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"
#include "runtime/checkpoint.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
constexpr char kModel[] = "examples/fashion_mlp.kiln";






// `kiln train` of the model on a small slice; the thread count is fixed so both runs split
// reductions the same way.
RunResult Train(const std::string& model, int epochs, std::vector<std::string> extra) {
  std::vector<std::string> args = {"train",         model,  "--epochs",     std::to_string(epochs),
                                   "--train-limit", "2000", "--test-limit", "500",
                                   "--threads",     "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunKiln(args);
}

// "epoch 2/2  train_loss 0.6012  test_loss 0.5873  test_acc 0.7900": the line without timings.
std::string EpochFigures(const std::string& out, int epoch) {
  std::smatch match;
  const std::regex pattern("epoch " + std::to_string(epoch) +
                           "/\\d+  train_loss \\S+  test_loss \\S+  test_acc \\S+");
  return std::regex_search(out, match, pattern) ? match.str() : "";
}

bool HaveFashionMnist() {
  return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz");
}

#define SKIP_WITHOUT_DATA()                                                                      \
  if (!HaveFashionMnist()) {                                                                     \
    GTEST_SKIP() << kFashionMnistDir << " is not installed (Debian's dataset-fashion-mnist)"; \
  }

bool SameBits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

TEST(ResumeTest, ResumedRunEndsExactlyWhereTheUninterruptedOneDoes) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  const std::string straight = dir.File("straight.ckpt"), resumed = dir.File("resumed.ckpt");
  RunResult full = Train(kModel, 2, {"--checkpoint", straight});
  ASSERT_TRUE(full.exited && full.exit_code == 0) << Describe(full);

  RunResult first = Train(kModel, 1, {"--checkpoint", resumed});
  ASSERT_TRUE(first.exited && first.exit_code == 0) << Describe(first);
  RunResult rest = Train(kModel, 2, {"--checkpoint", resumed, "--resume"});
  ASSERT_TRUE(rest.exited && rest.exit_code == 0) << Describe(rest);
  EXPECT_NE(rest.out.find("resuming from " + resumed + " after epoch 1 of 2"), std::string::npos)
      << Describe(rest);
  EXPECT_EQ(EpochFigures(rest.out, 1), "") << "epoch 1 ran again\n" << Describe(rest);
  ASSERT_NE(EpochFigures(full.out, 2), "") << Describe(full);
  EXPECT_EQ(EpochFigures(rest.out, 2), EpochFigures(full.out, 2));

  absl::StatusOr<runtime::Checkpoint> a = runtime::ReadCheckpoint(straight);
  absl::StatusOr<runtime::Checkpoint> b = runtime::ReadCheckpoint(resumed);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->state.epoch, 2);
  EXPECT_EQ(b->state.global_step, a->state.global_step);
  // Parameters and optimizer state (Adam's moments and step), bit for bit.
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  ASSERT_GT(a->tensors.size(), 6u) << "expected parameters and Adam state";
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    EXPECT_EQ(a->tensors[i].name, b->tensors[i].name);
    EXPECT_TRUE(a->tensors[i].bytes == b->tensors[i].bytes)
        << "tensor '" << a->tensors[i].name << "' differs after resuming";
  }
  ASSERT_EQ(b->state.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_TRUE(SameBits(a->state.history[e].train_loss, b->state.history[e].train_loss));
    EXPECT_TRUE(SameBits(a->state.history[e].test_loss, b->state.history[e].test_loss));
    EXPECT_TRUE(SameBits(a->state.history[e].test_accuracy, b->state.history[e].test_accuracy));
  }
}

TEST(ResumeTest, MissingCheckpointStartsFresh) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  const std::string path = dir.File("run.ckpt");
  RunResult r = Train(kModel, 1, {"--checkpoint", path, "--resume"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << Describe(r);
  EXPECT_NE(r.out.find(path + " does not exist; starting from epoch 1"), std::string::npos)
      << Describe(r);
  EXPECT_NE(EpochFigures(r.out, 1), "") << Describe(r);
  EXPECT_TRUE(runtime::ReadCheckpoint(path).ok());
}

// One line on stderr that names the file, exit status 1, and the file left as it was.
void ExpectResumeFails(const std::string& model, const std::string& path,
                       const std::string& message) {
  const std::string before = ReadFile(path);
  RunResult r = Train(model, 2, {"--checkpoint", path, "--resume"});
  ASSERT_TRUE(r.exited) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err, "kiln: " + path + ": " + message + "\n") << Describe(r);
  EXPECT_EQ(ReadFile(path), before) << "a failed resume changed the checkpoint";
}

TEST(ResumeTest, CorruptOrMismatchedCheckpointIsAOneLineError) {
  SKIP_WITHOUT_DATA();
  TempDir dir;
  const std::string path = dir.File("run.ckpt");
  RunResult first = Train(kModel, 1, {"--checkpoint", path});
  ASSERT_TRUE(first.exited && first.exit_code == 0) << Describe(first);
  const std::string good = ReadFile(path);

  // A checkpoint of the same model with a narrower first layer.
  std::string narrow_text = absl::StrReplaceAll(ReadFile(kModel), {{"linear(x, 256)", "linear(x, 128)"}});
  ASSERT_NE(narrow_text, ReadFile(kModel));
  const std::string narrow = dir.File("narrow.kiln");
  std::ofstream(narrow) << narrow_text;
  ExpectResumeFails(narrow, path,
                    "tensor 'fc1.weight' has shape [784,256], the model expects [784,128]");

  std::string corrupt = good;
  corrupt[corrupt.size() / 2] ^= 0x01;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << corrupt;
  ExpectResumeFails(kModel, path, "checksum mismatch (file is corrupt)");

  std::ofstream(path, std::ios::binary | std::ios::trunc) << good.substr(0, good.size() - 1000);
  ExpectResumeFails(kModel, path,
                    "truncated (" + std::to_string(good.size() - 1000) + " of " +
                        std::to_string(good.size()) + " bytes)");
}

TEST(ResumeTest, ResumeNeedsACheckpointFile) {
  RunResult r = RunKiln({"train", kModel, "--resume"});
  ASSERT_TRUE(r.exited) << Describe(r);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_EQ(r.err, "kiln: --resume needs --checkpoint FILE\n") << Describe(r);
}

}  // namespace
}  // namespace kiln
