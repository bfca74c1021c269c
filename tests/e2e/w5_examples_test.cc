// End-to-end for the W5 examples with the real `kiln` binary on a slice of Fashion-MNIST:
// he_xavier_mlp.kiln (Kaiming/Xavier normal initialization), batchnorm_mlp.kiln (batch_norm1d
// after each hidden linear layer) and dropout_mlp.kiln (dropout 0.5) learn; batch norm's running
// statistics are saved in checkpoints and restored by --resume, so an interrupted run ends bit
// for bit where an uninterrupted one does.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/checkpoint.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::JsonNumber;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::Succeeded;
using e2e::TempDir;

constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

#define SKIP_WITHOUT_DATA()                                                                   \
  if (!fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz")) {               \
    GTEST_SKIP() << kFashionMnistDir << " is not installed (Debian's dataset-fashion-mnist)"; \
  }

// `kiln train` on 4,000 training and 1,000 test images, two threads (fixed so that two runs
// split reductions the same way).
RunResult Train(const std::string& model, int epochs, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train",         model,  "--epochs",     std::to_string(epochs),
                                   "--train-limit", "4000", "--test-limit", "1000",
                                   "--threads",     "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return RunKiln(args);
}

struct Example {
  const char* path;
  // After one epoch on the slice; chance is 10% accuracy and a loss of log(10) = 2.30. Dropout
  // 0.5 learns more slowly, and its training loss is taken with dropout on.
  double min_test_accuracy;
  double max_train_loss;
};

class W5ExampleTest : public testing::TestWithParam<Example> {};

TEST_P(W5ExampleTest, LearnsOnASliceOfFashionMnist) {
  SKIP_WITHOUT_DATA();
  const Example& example = GetParam();
  TempDir dir;
  const std::string metrics = dir.File("metrics.json");
  RunResult r = Train(example.path, 1, {"--metrics-out", metrics});
  ASSERT_TRUE(Succeeded(r)) << Describe(r);
  const std::string json = ReadFile(metrics);
  EXPECT_GE(JsonNumber(json, "test_accuracy"), example.min_test_accuracy) << json;
  EXPECT_LT(JsonNumber(json, "train_loss"), example.max_train_loss) << json;
}

INSTANTIATE_TEST_SUITE_P(Examples, W5ExampleTest,
                         testing::Values(Example{"examples/he_xavier_mlp.kiln", 0.70, 1.0},
                                         Example{"examples/batchnorm_mlp.kiln", 0.75, 1.0},
                                         Example{"examples/dropout_mlp.kiln", 0.65, 1.9}),
                         [](const testing::TestParamInfo<Example>& info) {
                           return fs::path(info.param.path).stem().string();
                         });

// The f32 values of a checkpoint tensor.
std::vector<float> Floats(const runtime::CheckpointTensor& tensor) {
  std::vector<float> values(tensor.bytes.size() / sizeof(float));
  std::memcpy(values.data(), tensor.bytes.data(), values.size() * sizeof(float));
  return values;
}

TEST(BatchNormCheckpointTest, RunningStatsAreSavedAndRestoredByResume) {
  SKIP_WITHOUT_DATA();
  constexpr char kModel[] = "examples/batchnorm_mlp.kiln";
  TempDir dir;
  const std::string straight = dir.File("straight.ckpt"), resumed = dir.File("resumed.ckpt");
  RunResult full = Train(kModel, 2, {"--checkpoint", straight});
  ASSERT_TRUE(Succeeded(full)) << Describe(full);
  RunResult first = Train(kModel, 1, {"--checkpoint", resumed});
  ASSERT_TRUE(Succeeded(first)) << Describe(first);
  RunResult rest = Train(kModel, 2, {"--checkpoint", resumed, "--resume"});
  ASSERT_TRUE(Succeeded(rest)) << Describe(rest);
  EXPECT_NE(rest.out.find("after epoch 1 of 2"), std::string::npos) << Describe(rest);

  absl::StatusOr<runtime::Checkpoint> a = runtime::ReadCheckpoint(straight);
  absl::StatusOr<runtime::Checkpoint> b = runtime::ReadCheckpoint(resumed);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  int running_stats = 0;
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    const runtime::CheckpointTensor& tensor = a->tensors[i];
    EXPECT_EQ(tensor.name, b->tensors[i].name);
    EXPECT_TRUE(tensor.bytes == b->tensors[i].bytes)
        << "tensor '" << tensor.name << "' differs after resuming";
    if (tensor.name.find(".running_") == std::string::npos) continue;
    ++running_stats;
    EXPECT_EQ(tensor.name.find("exp_avg"), std::string::npos)
        << "optimizer state for " << tensor.name;
    // Training moved them away from their initial zeros and ones.
    const float initial = tensor.name.find("running_var") != std::string::npos ? 1.0f : 0.0f;
    int moved = 0;
    for (float v : Floats(tensor)) moved += v != initial;
    EXPECT_GT(moved, 0) << tensor.name << " was never updated";
  }
  EXPECT_EQ(running_stats, 4) << "bn1/bn2 running_mean and running_var";
  ASSERT_EQ(b->state.history.size(), 2u);
  EXPECT_EQ(a->state.history[1].test_accuracy, b->state.history[1].test_accuracy);
}

}  // namespace
}  // namespace kiln
