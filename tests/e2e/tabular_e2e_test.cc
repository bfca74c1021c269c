// End-to-end: the `kiln` binary training on tabular data it makes or reads itself — the W2
// binary classifier example, every batch regime (whole set, 1, mini-batches), one-hot
// probability targets, regression targets, and a CSV file.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/kiln_process.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using e2e::Describe;
using e2e::ReadFile;
using e2e::RunKiln;
using e2e::RunResult;
using e2e::TempDir;





// Every value of "key" in a metrics JSON file, in order (one per epoch).
std::vector<double> JsonNumbers(const std::string& json, const std::string& key) {
  std::vector<double> values;
  const std::regex pattern("\"" + key + "\"\\s*:\\s*([-+0-9.eE]+|null)");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    values.push_back((*it)[1] == "null" ? NAN : std::stod((*it)[1]));
  }
  return values;
}

// Trains `model` with `flags`, returning the metrics JSON.
std::string Train(const std::string& model, std::vector<std::string> flags, const TempDir& dir) {
  const fs::path metrics = dir.path() / "metrics.json";
  std::vector<std::string> args = {"train", model, "--metrics-out", metrics.string(),
                                   "--threads", "1"};
  args.insert(args.end(), flags.begin(), flags.end());
  const RunResult r = RunKiln(args);
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  return ReadFile(metrics);
}

// W2's recipe exactly: sigmoid output, binary cross-entropy, RMSprop, 3 epochs. Accuracy is
// (probability > 0.5) == label.
TEST(TabularE2eTest, BinaryClassifierExampleLearnsSyntheticData) {
  TempDir dir;
  const std::string json = Train("examples/binary_classifier.kiln", {}, dir);
  const std::vector<double> accuracy = JsonNumbers(json, "test_accuracy");
  ASSERT_EQ(accuracy.size(), 3u) << json;
  EXPECT_GE(accuracy.back(), 0.93) << json;
  const std::vector<double> loss = JsonNumbers(json, "train_loss");
  EXPECT_LT(loss.back(), loss.front()) << json;
}

// W2's search recipe (the net kiln tune searches): SGD with momentum 0.9, lr 0.01, 16 epochs.
TEST(TabularE2eTest, BinaryClassifierWithSgdMomentumLearns) {
  TempDir dir;
  const std::string json = Train("examples/binary_classifier_sgd.kiln", {}, dir);
  const std::vector<double> accuracy = JsonNumbers(json, "test_accuracy");
  ASSERT_EQ(accuracy.size(), 16u) << json;
  EXPECT_GE(accuracy.back(), 0.93) << json;
  const std::vector<double> loss = JsonNumbers(json, "test_loss");
  EXPECT_LT(loss.back(), 0.2) << json;  // From ~0.69 (chance) for a sigmoid output.
}

// W2's multiclass recipe: one-hot targets, cross_entropy against probabilities; accuracy is
// the argmax of the logits against the argmax of the one-hot target.
TEST(TabularE2eTest, MulticlassExampleWithOneHotTargets) {
  TempDir dir;
  const std::string json = Train("examples/multiclass_classifier.kiln", {}, dir);
  const std::vector<double> accuracy = JsonNumbers(json, "test_accuracy");
  ASSERT_EQ(accuracy.size(), 3u) << json;
  EXPECT_GE(accuracy.back(), 0.7) << json;  // Chance is 1/3.
  EXPECT_LT(JsonNumbers(json, "test_loss").back(), std::log(3.0)) << json;
}

// W2's regression recipe: mse_loss, no accuracy (null in the metrics), the loss falls.
TEST(TabularE2eTest, RegressionExampleReportsLossOnly) {
  TempDir dir;
  const std::string json = Train("examples/regression.kiln", {}, dir);
  const std::vector<double> loss = JsonNumbers(json, "test_loss");
  ASSERT_EQ(loss.size(), 5u) << json;
  EXPECT_LT(loss.back(), 0.5 * loss.front()) << json;
  for (double accuracy : JsonNumbers(json, "test_accuracy")) EXPECT_TRUE(std::isnan(accuracy));
}

// The logit form: accuracy counts logit > 0.
TEST(TabularE2eTest, BinaryCrossEntropyWithLogitsCountsPositiveLogits) {
  TempDir dir;
  const fs::path model = dir.Write("logits.kiln", R"(
model logits {
  input x: f32[B, 10]
  input y: f32[B, 1]
  h = relu(linear(x, 16, name=fc1))
  loss = binary_cross_entropy_with_logits(linear(h, 1, name=out), y)
}
train {
  data = make_classification(n_samples=1000, n_features=10, seed=42, standardize=true)
  optimizer = rmsprop(lr=0.01)
  batch_size = 100
  epochs = 3
}
)");
  const std::string json = Train(model.string(), {}, dir);
  const std::vector<double> accuracy = JsonNumbers(json, "test_accuracy");
  ASSERT_EQ(accuracy.size(), 3u) << json;
  EXPECT_GE(accuracy.back(), 0.85) << json;
}

// Batch = the whole training set (900), pure SGD (1) and a mini-batch that leaves a smaller
// last batch (64: 14 x 64 + 4): each compiles the batch sizes it needs and trains.
TEST(TabularE2eTest, WholeSetSingleSampleAndMiniBatches) {
  for (const char* batch : {"900", "1", "64"}) {
    TempDir dir;
    const std::string json =
        Train("examples/binary_classifier.kiln", {"--batch-size", batch, "--epochs", "2"}, dir);
    const std::vector<double> accuracy = JsonNumbers(json, "test_accuracy");
    ASSERT_EQ(accuracy.size(), 2u) << "batch " << batch << ": " << json;
    EXPECT_TRUE(std::isfinite(JsonNumbers(json, "train_loss").back())) << json;
    // Two full-batch steps barely move the weights; the others must learn.
    if (std::string(batch) != "900") {
      EXPECT_GE(accuracy.back(), 0.8) << batch << ": " << json;
    }
  }
}

// Three classes with one-hot f32 targets [B, 3]: cross-entropy against probabilities.
TEST(TabularE2eTest, OneHotTargetsFeedAnF32LabelsInput) {
  TempDir dir;
  const fs::path model = dir.Write("multiclass.kiln", R"(
model multiclass {
  input x: f32[B, 10]
  input y: f32[B, 3]
  h1 = relu(linear(x, 16, name=fc1))
  h2 = relu(linear(h1, 16, name=fc2))
  logp = log_softmax(linear(h2, 3, name=out), dim=1)
  loss = neg(reduce_mean(reduce_sum(y * logp, 1)))
}
train {
  data = make_classification(n_samples=1000, n_features=10, n_informative=9, n_redundant=0, n_classes=3, seed=1, standardize=true, one_hot=true)
  optimizer = adam(lr=0.01)
  batch_size = 100
  epochs = 5
}
)");
  const std::string json = Train(model.string(), {}, dir);
  const std::vector<double> loss = JsonNumbers(json, "train_loss");
  ASSERT_EQ(loss.size(), 5u) << json;
  EXPECT_LT(loss.back(), 0.7 * std::log(3.0)) << json;  // Well below chance (ln 3).
  EXPECT_LT(JsonNumbers(json, "test_loss").back(), std::log(3.0)) << json;
}

// make_regression's real targets as f32 [B, 1] with a mean squared error.
TEST(TabularE2eTest, RegressionTargets) {
  TempDir dir;
  const fs::path model = dir.Write("regression.kiln", R"(
model regression {
  input x: f32[B, 10]
  input y: f32[B, 1]
  h1 = relu(linear(x, 16, name=fc1))
  h2 = relu(linear(h1, 16, name=fc2))
  d = linear(h2, 1, name=out) - y
  loss = reduce_mean(d * d)
}
train {
  data = make_regression(n_samples=1000, n_features=10, noise=1, seed=3, standardize=true)
  optimizer = adam(lr=0.03)
  batch_size = 100
  epochs = 20
}
)");
  const std::string json = Train(model.string(), {}, dir);
  const std::vector<double> loss = JsonNumbers(json, "test_loss");
  ASSERT_EQ(loss.size(), 20u) << json;
  EXPECT_LT(loss.back(), 0.2 * loss.front()) << json;
}

TEST(TabularE2eTest, CsvColumnsByNameAndAMissingColumnError) {
  TempDir dir;
  std::string csv = "a,b,noise,label\n";
  for (int i = 0; i < 200; ++i) {
    const double a = (i % 17) / 8.0 - 1, b = (i % 11) / 5.0 - 1;
    csv += std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(i % 3) + "," +
           (a + b > 0 ? "1" : "0") + "\n";
  }
  const fs::path data = dir.Write("points.csv", csv);
  const std::string model_text = R"(
model points {
  input x: f32[B, 2]
  input y: i64[B]
  loss = cross_entropy(linear(relu(linear(x, 8, name=fc1)), 2, name=out), y)
}
train {
  data = csv(path="PATH", features=[a, b], label=COLUMN, seed=2, standardize=true)
  optimizer = adam(lr=0.05)
  batch_size = 20
  epochs = 10
}
)";
  auto with = [&](const std::string& column) {
    std::string text = std::regex_replace(model_text, std::regex("PATH"), data.string());
    return std::regex_replace(text, std::regex("COLUMN"), column);
  };
  const fs::path good = dir.Write("points.kiln", with("label"));
  const std::string json = Train(good.string(), {}, dir);
  ASSERT_FALSE(JsonNumbers(json, "test_accuracy").empty()) << json;
  EXPECT_GE(JsonNumbers(json, "test_accuracy").back(), 0.85) << json;

  const fs::path bad = dir.Write("bad.kiln", with("lable"));
  const RunResult r = RunKiln({"train", bad.string()});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_NE(r.err.find("no column 'lable', did you mean 'label'?"), std::string::npos)
      << Describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << Describe(r);
}

}  // namespace
}  // namespace kiln
