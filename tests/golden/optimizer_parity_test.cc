// Optimizer parity: every torch.optim rule kiln implements (and gradient clipping and frozen
// parameters) against optimizers.kgf, written by tests/golden/make_optimizer_fixtures.py:
// a 20-16-3 MLP with cross_entropy, batch 8, 10 steps from fixed float32 weights and batches,
// referenced in float64 by PyTorch's single-tensor (foreach=False) optimizers.
//
// Each case's optimizer line is kiln DSL, compiled through the frontend (so its defaults are
// PyTorch's), the training-step builder and the CPU backend, exactly as `kiln train` does.
//
// Tolerance: |kiln - ref| <= 1e-5 * max(|ref|, 0.1 * max_j |ref_j|) per element, per tensor:
// 1e-5 relative, with elements under 10% of the tensor's largest magnitude judged against that
// 10% (a float32 sum of mixed-sign terms cannot give a tiny result to 1e-5 of itself).
//
// One exception, centered RMSprop: its denominator sqrt(square_avg - grad_avg^2) subtracts two
// nearly equal running averages when a gradient element is consistent across steps, so float32
// rounding in either is amplified. PyTorch's own float32 run reaches 0.98x the 1e-5 rule on the
// rmsprop_centered case (every other case: <= 0.31x); kiln reaches 2.8x on 1 element of 320.
// Centered cases are held to 5e-5.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "ir/optimizer_defs.h"
#include "passes/optimizers.h"
#include "passes/training_step.h"
#include "tests/golden/compile_step.h"
#include "tests/golden/golden_fixture.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

constexpr double kRtol = 1e-5;
constexpr double kCenteredRmspropRtol = 5e-5;
constexpr char kFixturePath[] = "tests/golden/optimizers.kgf";
constexpr const char* kParams[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};

constexpr char kModel[] = R"(model mlp {
  input x: f32[B, 20]
  input y: i64[B]
  h = relu(linear(x, 16, name=fc1))
  loss = cross_entropy(linear(h, 3, name=fc2), y)
}
train {
  optimizer = %s
  %s
}
)";

using golden::AllClose;
using golden::Fixture;
using golden::LoadFixture;

const Fixture* OptimizerFixture() {
  static const Fixture* fixture = [] {
    absl::StatusOr<Fixture> loaded = LoadFixture(kFixturePath);
    if (!loaded.ok()) std::cerr << loaded.status() << "\n";
    return loaded.ok() ? new Fixture(*std::move(loaded)) : nullptr;
  }();
  return fixture;
}

// ---------------------------------------------------------------------------------------------

struct Case {
  std::string name, optimizer, train_lines;
};

// "NAME | OPTIMIZER | LINE; LINE" ("-" for no extra lines).
Case ParseCase(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '|');
  parts.resize(3);
  Case c{std::string(absl::StripAsciiWhitespace(parts[0])),
         std::string(absl::StripAsciiWhitespace(parts[1])),
         std::string(absl::StripAsciiWhitespace(parts[2]))};
  if (c.train_lines == "-") c.train_lines.clear();
  c.train_lines = absl::StrReplaceAll(c.train_lines, {{";", "\n  "}});
  return c;
}

std::vector<std::string> CaseTexts() {
  if (OptimizerFixture() == nullptr) return {"missing_fixture | sgd | -"};
  std::vector<std::string> texts;
  for (const auto& [key, value] : OptimizerFixture()->meta) {
    if (key == "case") texts.push_back(value);
  }
  return texts;
}

std::vector<double> Values(const absl::StatusOr<std::vector<double>>& result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::vector<double>{};
}

class OptimizerParityTest : public testing::TestWithParam<std::string> {};

TEST_P(OptimizerParityTest, TenStepsMatchPyTorch) {
  ASSERT_NE(OptimizerFixture(), nullptr) << kFixturePath << " is missing or unreadable";
  const Fixture& fixture = *OptimizerFixture();
  Case c = ParseCase(GetParam());
  SCOPED_TRACE(absl::StrCat(c.optimizer, " ", c.train_lines));
  const golden::GoldTensor* x = fixture.Find("x");
  const golden::GoldTensor* y = fixture.Find("y");
  const golden::GoldTensor* loss = fixture.Find(c.name + ".losses");
  ASSERT_TRUE(x && y && loss);
  const std::vector<double>* xs = &x->values;
  const std::vector<double>* ys = &y->values;
  const std::vector<double>* losses = &loss->values;
  const int64_t steps = static_cast<int64_t>(losses->size());
  const int64_t batch = static_cast<int64_t>(ys->size()) / steps;

  std::string text = absl::StrFormat(kModel, c.optimizer, c.train_lines);
  absl::StatusOr<golden::CompiledStep> compiled =
      golden::CompileTrainingStep(text, c.name + ".kiln", batch);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const ir::TrainConfig* train = &compiled->train;
  tools::GraphRunner& step = *compiled->runner;

  for (const char* param : kParams) {
    ASSERT_TRUE(step.Set(param, fixture.Values(absl::StrCat("init.", param))).ok()) << param;
  }
  ASSERT_TRUE(step.Set(passes::kLearningRateInput, {train->optimizer.Get("lr", 0.0)}).ok());
  const int64_t features = static_cast<int64_t>(xs->size()) / (steps * batch);
  std::vector<double> kiln_losses;
  for (int64_t s = 0; s < steps; ++s) {
    ASSERT_TRUE(step.Set("x", std::vector<double>(xs->begin() + s * batch * features,
                                                  xs->begin() + (s + 1) * batch * features))
                    .ok());
    ASSERT_TRUE(
        step.Set("y", std::vector<double>(ys->begin() + s * batch, ys->begin() + (s + 1) * batch))
            .ok());
    ASSERT_TRUE(step.Run().ok());
    std::vector<double> loss = Values(step.Read(passes::kLossOutput));
    ASSERT_EQ(loss.size(), 1u);
    kiln_losses.push_back(loss[0]);
  }
  EXPECT_TRUE(AllClose("loss per step", kiln_losses, *losses, kRtol));
  const bool centered = c.optimizer.find("centered=true") != std::string::npos;
  for (const char* param : kParams) {
    EXPECT_TRUE(AllClose(param, Values(step.Read(param)),
                         fixture.Values(absl::StrCat(c.name, ".final.", param)),
                         centered ? kCenteredRmspropRtol : kRtol));
  }
}

INSTANTIATE_TEST_SUITE_P(Case, OptimizerParityTest, testing::ValuesIn(CaseTexts()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return ParseCase(info.param).name;
                         });

// Guards against a fixture that silently lost cases: every optimizer kiln knows is covered.
TEST(OptimizerParityCoverageTest, CoversEveryOptimizer) {
  ASSERT_NE(OptimizerFixture(), nullptr);
  std::map<std::string, int> covered;
  for (const std::string& text : CaseTexts()) {
    Case c = ParseCase(text);
    ++covered[c.optimizer.substr(0, c.optimizer.find('('))];
  }
  for (const std::string& kind : ir::OptimizerNames()) EXPECT_GT(covered[kind], 0) << kind;
}

}  // namespace
}  // namespace kiln
