#include "runtime/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/random.h"
#include "tests/runtime/fake_kernel_library.h"

namespace kiln::runtime {
namespace {

using testing::FakeKernelLibrary;

constexpr int64_t kDim = 3;

// What the fake entries observed, for the test to check. Entry functions are plain C function
// pointers, so they report through globals.
struct Observed {
  std::vector<int64_t> samples;  // Training samples in the order steps saw them.
  std::vector<int64_t> rng_keys;
  std::vector<float> learning_rates;
  int64_t nan_at_step = -1;  // The training step (0-based, counted by "steps") that returns NaN.
  int64_t poison_at_step = -1;  // The step after which PoisonParameterStep's parameter is inf.
} observed;

// Training slots: x f32[b,3], y i64[b], kiln.lr, kiln.rng, steps i64[] (persistent), loss.
// loss = mean label of the batch, so the sample-weighted epoch loss is the mean label of the
// whole set whatever the order.
template <int64_t kBatch>
void TrainStep(void** slots, const KilnParallel* parallel) {
  const float* x = static_cast<const float*>(slots[0]);
  const int64_t* y = static_cast<const int64_t*>(slots[1]);
  int64_t& steps = *static_cast<int64_t*>(slots[4]);
  float sum = 0;
  for (int64_t r = 0; r < kBatch; ++r) {
    sum += static_cast<float>(y[r]);
    observed.samples.push_back(static_cast<int64_t>(x[r * kDim]));
  }
  observed.learning_rates.push_back(*static_cast<const float*>(slots[2]));
  observed.rng_keys.push_back(*static_cast<const int64_t*>(slots[3]));
  *static_cast<float*>(slots[5]) =
      steps == observed.nan_at_step ? std::numeric_limits<float>::quiet_NaN() : sum / kBatch;
  ++steps;
}

// Like TrainStep with f32 labels (regression targets): loss = mean target.
void RegressionStep(void** slots, const KilnParallel* parallel) {
  const float* y = static_cast<const float*>(slots[1]);
  *static_cast<float*>(slots[5]) = (y[0] + y[1] + y[2] + y[3]) / 4;
}

// Evaluation slots: x f32[b,3], y i64[b], loss, correct. loss = mean of x[:, 0]; a prediction
// is "correct" when the label is 1.
template <int64_t kBatch>
void EvalStep(void** slots, const KilnParallel* parallel) {
  const float* x = static_cast<const float*>(slots[0]);
  const int64_t* y = static_cast<const int64_t*>(slots[1]);
  float sum = 0, correct = 0;
  for (int64_t r = 0; r < kBatch; ++r) {
    sum += x[r * kDim];
    correct += y[r] == 1 ? 1.0f : 0.0f;
  }
  *static_cast<float*>(slots[2]) = sum / kBatch;
  *static_cast<float*>(slots[3]) = correct;
}

BufferSpec Buffer(const std::string& name, BufferRole role, ElementType type,
                  std::vector<int64_t> shape, int64_t arena_offset = 0) {
  BufferSpec buffer{name, role, type, std::move(shape), arena_offset, 0};
  buffer.bytes = NumElements(buffer.shape) * ElementSize(type);
  return buffer;
}

EntrySpec TrainEntry(int64_t batch) {
  EntrySpec entry;
  entry.symbol = absl::StrCat("train_", batch);
  entry.training = true;
  entry.batch_size = batch;
  entry.buffers = {Buffer("x", BufferRole::kInput, ElementType::kF32, {batch, kDim}),
                   Buffer("y", BufferRole::kInput, ElementType::kI64, {batch}),
                   Buffer(kLearningRateInput, BufferRole::kInput, ElementType::kF32, {}),
                   Buffer(kRngInput, BufferRole::kInput, ElementType::kI64, {}),
                   Buffer("steps", BufferRole::kPersistent, ElementType::kI64, {}),
                   Buffer(kLossOutput, BufferRole::kOutput, ElementType::kF32, {}, 0)};
  entry.arena_bytes = 64;
  return entry;
}

EntrySpec EvalEntry(int64_t batch) {
  EntrySpec entry;
  entry.symbol = absl::StrCat("eval_", batch);
  entry.batch_size = batch;
  entry.buffers = {Buffer("x", BufferRole::kInput, ElementType::kF32, {batch, kDim}),
                   Buffer("y", BufferRole::kInput, ElementType::kI64, {batch}),
                   Buffer(kLossOutput, BufferRole::kOutput, ElementType::kF32, {}, 0),
                   Buffer(kCorrectOutput, BufferRole::kOutput, ElementType::kF32, {}, 64)};
  entry.arena_bytes = 128;
  return entry;
}

// Training batches of 4 over 10 samples (4, 4, 2); evaluation batches of 4 over 6 (4, 2).
ProgramSpec MakeProgram() {
  ProgramSpec program;
  program.entries = {TrainEntry(4), TrainEntry(2), EvalEntry(4), EvalEntry(2)};
  PersistentSpec steps;
  steps.name = "steps";
  steps.type = ElementType::kI64;
  program.persistent = {steps};
  program.features_input = "x";
  program.labels_input = "y";
  return program;
}

// Sample i has features {i, 10 + i, 20 + i}, so a step can tell which sample it got.
Dataset MakeData(const std::vector<int64_t>& labels, const std::vector<float>& first_feature) {
  Dataset data;
  data.num_samples = static_cast<int64_t>(labels.size());
  data.feature_dim = kDim;
  data.sample_shape = {kDim};
  data.labels = labels;
  for (int64_t i = 0; i < data.num_samples; ++i) {
    const float f = first_feature.empty() ? static_cast<float>(i) : first_feature[i];
    data.features.insert(data.features.end(), {f, 10.0f + i, 20.0f + i});
  }
  return data;
}

class TrainerTest : public ::testing::Test {
 protected:
  TrainerTest() {
    observed = Observed();
    library_.Add("train_4", &TrainStep<4>);
    library_.Add("train_2", &TrainStep<2>);
    library_.Add("eval_4", &EvalStep<4>);
    library_.Add("eval_2", &EvalStep<2>);
    options_.epochs = 2;
    options_.batch_size = 4;
    options_.learning_rate = 0.125;
    options_.seed = 9;
    options_.log = &log_;
    metrics_path_ = (std::filesystem::path(::testing::TempDir()) /
                     absl::StrCat("kiln_trainer_metrics_", ::getpid(), ".json"))
                        .string();
    std::filesystem::remove(metrics_path_);
  }

  absl::StatusOr<std::vector<EpochMetrics>> Fit(ProgramSpec program = MakeProgram()) {
    absl::StatusOr<std::unique_ptr<Executable>> exe =
        Executable::Create(std::move(program), library_, options_.seed);
    if (!exe.ok()) return exe.status();
    Trainer trainer(**exe, pool_, options_);
    return trainer.Fit(train_, test_);
  }

  std::string ReadMetrics() {
    std::ifstream in(metrics_path_);
    std::stringstream contents;
    contents << in.rdbuf();
    return contents.str();
  }

  FakeKernelLibrary library_;
  ThreadPool pool_{2};
  TrainOptions options_;
  std::ostringstream log_;
  std::string metrics_path_;
  // Mean train label 4.5. Test: mean first feature 4 sample-weighted (4.75 if batch means were
  // averaged unweighted), 3 of 6 labels are 1.
  Dataset train_ = MakeData({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {});
  Dataset test_ = MakeData({1, 0, 1, 1, 0, 2}, {1, 2, 3, 4, 5, 9});
};

TEST_F(TrainerTest, EpochMetricsAreSampleWeighted) {
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 2u);
  for (int e = 0; e < 2; ++e) {
    const EpochMetrics& m = (*history)[e];
    EXPECT_EQ(m.epoch, e + 1);
    EXPECT_EQ(m.train_loss, 4.5);
    EXPECT_EQ(m.test_loss, 4.0);
    EXPECT_EQ(m.test_accuracy, 0.5);
    EXPECT_EQ(m.steps, 3);
    EXPECT_EQ(m.train_samples, 10);
    EXPECT_GT(m.samples_per_second, 0.0);
  }
  EXPECT_EQ(observed.learning_rates, std::vector<float>(6, 0.125f));
}

TEST_F(TrainerTest, PrintsOneLinePerEpoch) {
  ASSERT_TRUE(Fit().ok());
  const std::regex line(
      "epoch 1/2  train_loss 4\\.5000  test_loss 4\\.0000  test_acc 0\\.5000  [0-9]+\\.[0-9]{2}s  "
      "[0-9]+ samples/s\n"
      "epoch 2/2  train_loss 4\\.5000  test_loss 4\\.0000  test_acc 0\\.5000  [0-9]+\\.[0-9]{2}s  "
      "[0-9]+ samples/s\n");
  EXPECT_TRUE(std::regex_match(log_.str(), line)) << log_.str();
}

TEST_F(TrainerTest, WritesMetricsJsonAtomically) {
  options_.metrics_out = metrics_path_;
  ASSERT_TRUE(Fit().ok());
  const std::string json = ReadMetrics();
  const std::string number = "[0-9.e+-]+";
  const std::string epoch =
      "\\{\"epoch\":%d,\"train_loss\":4\\.5,\"test_loss\":4,\"test_accuracy\":0\\.5,"
      "\"seconds\":N,\"eval_seconds\":N,\"samples_per_second\":N\\}";
  std::string pattern = "\\{\"epochs\":\\[" + epoch + "," + epoch + "\\]\\}\n";
  pattern = std::regex_replace(pattern, std::regex("N"), number);
  pattern =
      std::regex_replace(pattern, std::regex("%d"), "1", std::regex_constants::format_first_only);
  pattern = std::regex_replace(pattern, std::regex("%d"), "2");
  EXPECT_TRUE(std::regex_match(json, std::regex(pattern))) << json;
  EXPECT_FALSE(std::filesystem::exists(metrics_path_ + ".tmp"));
}

TEST_F(TrainerTest, ShufflesEveryEpochReproducibly) {
  ASSERT_TRUE(Fit().ok());
  const std::vector<int64_t> first_run = observed.samples;
  ASSERT_EQ(first_run.size(), 20u);
  const std::vector<int64_t> epoch1(first_run.begin(), first_run.begin() + 10);
  const std::vector<int64_t> epoch2(first_run.begin() + 10, first_run.end());
  EXPECT_NE(epoch1, epoch2);
  EXPECT_EQ(std::set<int64_t>(epoch1.begin(), epoch1.end()).size(), 10u);
  EXPECT_EQ(std::set<int64_t>(epoch2.begin(), epoch2.end()).size(), 10u);

  observed = Observed();
  ASSERT_TRUE(Fit().ok());
  EXPECT_EQ(observed.samples, first_run);

  observed = Observed();
  options_.shuffle = false;
  ASSERT_TRUE(Fit().ok());
  EXPECT_EQ(std::vector<int64_t>(observed.samples.begin(), observed.samples.begin() + 10),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_F(TrainerTest, StepKeysAreHashedFromSeedAndGlobalStep) {
  ASSERT_TRUE(Fit().ok());
  ASSERT_EQ(observed.rng_keys.size(), 6u);
  for (int64_t step = 0; step < 6; ++step) {
    EXPECT_EQ(observed.rng_keys[step], StepKey(options_.seed, step));
  }
  EXPECT_EQ(std::set<int64_t>(observed.rng_keys.begin(), observed.rng_keys.end()).size(), 6u);
}

TEST_F(TrainerTest, ResumedRunSeesWhatTheUninterruptedRunSaw) {
  options_.epochs = 3;
  ASSERT_TRUE(Fit().ok());
  const Observed full = observed;

  observed = Observed();
  options_.first_epoch = 3;
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ((*history)[0].epoch, 3);
  EXPECT_EQ(observed.samples, std::vector<int64_t>(full.samples.begin() + 20, full.samples.end()));
  EXPECT_EQ(observed.rng_keys,
            std::vector<int64_t>(full.rng_keys.begin() + 6, full.rng_keys.end()));
}

// on_step sees every step's loss under its global step (1-based), a resumed run's continuing
// the checkpoint's: TensorBoard's step axis.
TEST_F(TrainerTest, OnStepReportsEachLossAtItsGlobalStep) {
  options_.epochs = 3;
  std::vector<int64_t> steps;
  std::vector<double> losses;
  options_.on_step = [&](int64_t global_step, double loss) {
    steps.push_back(global_step);
    losses.push_back(loss);
  };
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  ASSERT_EQ(losses.size(), 9u);
  // Batches of 4, 4 and 2 rows: the row-weighted step losses make the epoch's train loss.
  for (int epoch = 0; epoch < 3; ++epoch) {
    const double* loss = &losses[3 * epoch];
    EXPECT_DOUBLE_EQ((4 * loss[0] + 4 * loss[1] + 2 * loss[2]) / 10, (*history)[epoch].train_loss);
  }

  steps.clear();
  options_.first_epoch = 3;
  ASSERT_TRUE(Fit().ok());
  EXPECT_EQ(steps, (std::vector<int64_t>{7, 8, 9}));
}

// A run killed between the checkpoint's rename and the metrics file's left the metrics an
// epoch behind the checkpoint. Resuming rewrites them from the checkpoint's history, even when
// the checkpoint holds every epoch and nothing is left to train.
TEST_F(TrainerTest, ResumeRewritesTheMetricsFileFromTheHistory) {
  options_.metrics_out = metrics_path_;
  absl::StatusOr<std::vector<EpochMetrics>> saved = Fit();
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_EQ(saved->size(), 2u);
  const std::string complete = ReadMetrics();
  std::ofstream(metrics_path_, std::ios::trunc) << MetricsJson({(*saved)[0]});

  observed = Observed();
  options_.history = *saved;
  options_.first_epoch = 3;
  ASSERT_TRUE(Fit().ok());
  EXPECT_TRUE(observed.samples.empty()) << "an epoch was trained";
  EXPECT_EQ(ReadMetrics(), complete);
}

TEST_F(TrainerTest, NonFiniteLossStopsTraining) {
  options_.metrics_out = metrics_path_;
  observed.nan_at_step = 4;  // The second step of epoch 2.
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(), "epoch 2 step 2: loss is nan");
  // The metrics file holds the epoch that finished.
  const std::string json = ReadMetrics();
  EXPECT_TRUE(absl::StartsWith(json, "{\"epochs\":[{\"epoch\":1,")) << json;
  EXPECT_FALSE(absl::StrContains(json, "\"epoch\":2")) << json;
}

// The unfused program of the replay: the training step as two kernels over the same slots plus
// a temporary h f32[] (slot 6). kUnfusedLog writes h, NaN at observed.nan_at_step as counted by
// the persistent "steps"; kUnfusedLoss copies h to the loss and counts the step.
void UnfusedLog(void** slots, int64_t, int64_t) {
  const int64_t steps = *static_cast<const int64_t*>(slots[4]);
  *static_cast<float*>(slots[6]) =
      steps == observed.nan_at_step ? std::numeric_limits<float>::quiet_NaN() : 1.0f;
}
void UnfusedLoss(void** slots, int64_t, int64_t) {
  *static_cast<float*>(slots[5]) = *static_cast<const float*>(slots[6]);
  ++*static_cast<int64_t*>(slots[4]);
}
void NeverCalled(void**, const KilnParallel*) { std::abort(); }

ProgramSpec MakeUnfusedProgram() {
  ProgramSpec program = MakeProgram();
  program.entries.resize(2);  // The training entries.
  for (EntrySpec& entry : program.entries) {
    entry.buffers.push_back(Buffer("h", BufferRole::kTemp, ElementType::kF32, {}, 64));
    entry.arena_bytes = 128;
    entry.kernels = {
        {.symbol = "unfused_log", .outputs = {6}, .origin = "'log' (m.kiln:5:9) in the forward pass"},
        {.symbol = "unfused_loss", .outputs = {5}, .origin = "'mean' 'loss' in the forward pass"}};
  }
  return program;
}

TEST_F(TrainerTest, NonFiniteLossNamesTheOpFromAReplayOfTheEpoch) {
  FakeKernelLibrary unfused_library;
  unfused_library.Add("train_4", &NeverCalled);
  unfused_library.Add("train_2", &NeverCalled);
  unfused_library.Add("unfused_log", reinterpret_cast<KilnEntryFn>(&UnfusedLog));
  unfused_library.Add("unfused_loss", reinterpret_cast<KilnEntryFn>(&UnfusedLoss));
  std::unique_ptr<Executable> unfused;
  int builds = 0;
  options_.unfused_program = [&]() -> absl::StatusOr<Executable*> {
    ++builds;
    absl::StatusOr<std::unique_ptr<Executable>> exe =
        Executable::Create(MakeUnfusedProgram(), unfused_library, options_.seed);
    if (!exe.ok()) return exe.status();
    unfused = *std::move(exe);
    return unfused.get();
  };
  // Step 2 of epoch 2. The fused step has counted 5 steps when the error is seen; the replay
  // reaches NaN at the same step only if it starts from the epoch's state (3 steps).
  observed.nan_at_step = 4;
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(),
            "epoch 2 step 2: loss is nan; first non-finite value (nan) produced by 'log' "
            "(m.kiln:5:9) in the forward pass");
  EXPECT_EQ(builds, 1);
}

// The run stops with the step even when the replay cannot be built.
TEST_F(TrainerTest, ReplayThatCannotBeBuiltStillStopsTheRun) {
  options_.unfused_program = []() -> absl::StatusOr<Executable*> {
    return absl::InternalError("out of memory");
  };
  observed.nan_at_step = 1;
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_FALSE(history.ok());
  EXPECT_TRUE(absl::IsAborted(history.status())) << history.status();
  EXPECT_EQ(history.status().message(),
            "epoch 1 step 2: loss is nan; the op-by-op replay failed: out of memory");
}

// TrainStep, plus a trainable f32[] "w" (slot 6) that turns inf at observed.poison_at_step while
// the loss stays finite: only the parameter check after the epoch can see it.
template <int64_t kBatch>
void PoisonParameterStep(void** slots, const KilnParallel* parallel) {
  const int64_t steps = *static_cast<const int64_t*>(slots[4]);
  TrainStep<kBatch>(slots, parallel);
  if (steps == observed.poison_at_step) {
    *static_cast<float*>(slots[6]) = std::numeric_limits<float>::infinity();
  }
}

TEST_F(TrainerTest, NonFiniteParameterAfterTheEpochIsAnError) {
  ProgramSpec program = MakeProgram();
  for (int e = 0; e < 2; ++e) {
    program.entries[e].buffers.push_back(
        Buffer("w", BufferRole::kPersistent, ElementType::kF32, {}));
  }
  PersistentSpec w;
  w.name = "w";
  w.trainable = true;
  program.persistent.push_back(w);
  library_.Add("train_4", &PoisonParameterStep<4>);
  library_.Add("train_2", &PoisonParameterStep<2>);
  observed.poison_at_step = 2;  // The last step of epoch 1.
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit(program);
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(), "epoch 1: 'w' is not finite after the last step");
}

TEST_F(TrainerTest, NonFiniteTestLossIsAnError) {
  test_ = MakeData({1, 0, 1, 1, 0, 2}, {1, 2, std::numeric_limits<float>::infinity(), 4, 5, 9});
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().message(), "epoch 1 evaluation batch 1: test loss is inf");
}

TEST_F(TrainerTest, MissingEntryForTheLastBatch) {
  ProgramSpec program = MakeProgram();
  program.entries.erase(program.entries.begin() + 1);  // train_2.
  EXPECT_EQ(Fit(program).status().message(),
            "no training entry for batch size 2 (compiled batch sizes: 4)");
}

TEST_F(TrainerTest, RejectsInputsItCannotFeed) {
  ProgramSpec program = MakeProgram();
  program.entries[0].buffers.push_back(Buffer("mask", BufferRole::kInput, ElementType::kF32, {4}));
  EXPECT_EQ(Fit(program).status().message(),
            "entry 'train_4': input 'mask' is not one the trainer feeds (x, y, kiln.lr, "
            "kiln.rng)");
  program = MakeProgram();
  program.entries[0].buffers[0].shape = {4, 5};
  program.entries[0].buffers[0].bytes = 4 * 5 * 4;
  EXPECT_EQ(Fit(program).status().message(),
            "entry 'train_4': features input 'x' is f32[4,5] but a batch of 4 samples has 4 x 3 "
            "values");
}

TEST_F(TrainerTest, FeedsFloatLabels) {
  library_.Add("train_4", &RegressionStep);
  ProgramSpec program = MakeProgram();
  program.entries = {TrainEntry(4)};
  program.entries[0].buffers[1] = Buffer("y", BufferRole::kInput, ElementType::kF32, {4});
  train_ = MakeData({1, 2, 3, 4, 5, 6, 7, 9}, {});
  test_ = Dataset();
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit(program);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ((*history)[0].train_loss, 4.625);
}

TEST_F(TrainerTest, NoTestSetSkipsEvaluation) {
  test_ = Dataset();
  absl::StatusOr<std::vector<EpochMetrics>> history = Fit();
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_TRUE(std::isnan((*history)[0].test_loss));
  EXPECT_TRUE(absl::StrContains(log_.str(), "test_loss -  test_acc -")) << log_.str();
  EXPECT_TRUE(absl::StrContains(MetricsJson(*history), "\"test_loss\":null")) << log_.str();
}

// W4's report: percentages rounded down, classes without test samples left out.
TEST(PerClassReportTest, FormatsLikeW4) {
  Evaluation evaluation;
  evaluation.loss = 0.0712341;
  evaluation.class_total = {980, 0, 1028};
  evaluation.class_correct = {973, 0, 1010};
  EXPECT_EQ(FormatPerClassReport(evaluation),
            "Test Loss: 0.071234\n\n"
            "Test Accuracy of 0: 99% (973/980)\n"
            "Test Accuracy of 2: 98% (1010/1028)\n\n"
            "Test Accuracy (Overall): 98% (1983/2008)\n");
}

// Keras' EarlyStopping(monitor="val_loss", mode="min", patience=N): stop once N epochs have
// passed without a new lowest test loss; equal is no improvement, NaN never is.
TEST(EarlyStoppingTest, StopsAfterPatienceEpochsWithoutANewBest) {
  auto history = [](std::vector<double> losses) {
    std::vector<EpochMetrics> h;
    for (size_t i = 0; i < losses.size(); ++i) {
      EpochMetrics m;
      m.epoch = static_cast<int64_t>(i) + 1;
      m.test_loss = losses[i];
      h.push_back(m);
    }
    return h;
  };
  EXPECT_EQ(EarlyStopReason(history({0.9, 0.8, 0.85, 0.81}), 3), "");
  EXPECT_EQ(EarlyStopReason(history({0.9, 0.8, 0.85, 0.81, 0.8}), 3),
            "early stopping: test loss has not improved for 3 epochs (best 0.8000 after epoch 2)");
  EXPECT_EQ(EarlyStopReason(history({0.9, 0.8, 0.85, 0.81, 0.8}), 0), "");  // Off.
  EXPECT_EQ(EarlyStopReason(history({0.9, NAN, NAN}), 2).substr(0, 14), "early stopping");
  EXPECT_EQ(EarlyStopReason(history({0.9, 0.7, 0.6}), 1), "");
  // --save-best's rule: a strictly lower test loss than every earlier epoch.
  EXPECT_TRUE(IsBestEpoch(history({0.9})));
  EXPECT_TRUE(IsBestEpoch(history({0.9, 0.8})));
  EXPECT_FALSE(IsBestEpoch(history({0.9, 0.8, 0.8})));
  EXPECT_FALSE(IsBestEpoch(history({0.9, 0.8, NAN})));
  EXPECT_TRUE(IsBestEpoch(history({NAN, 0.8})));
}

}  // namespace
}  // namespace kiln::runtime
