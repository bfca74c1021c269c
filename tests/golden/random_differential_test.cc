// Random differential test against PyTorch: a few hundred random small models (MLPs with batch or
// layer norm, CNNs with pooling, RNNs; every loss kind; every optimizer with random options;
// gradient clipping and freezing), written with their PyTorch twins by
// tests/golden/make_random_fixtures.py into random_models.kgf. Each case compiles its .kiln text
// through the frontend, the training-step builder and the CPU backend, starts from the fixture's
// weights, trains on the fixture's batches, and compares every step's loss and every parameter
// and running statistic afterwards with PyTorch's float64 run. No Python at test time.
//
// Tolerance: the golden tests' rule (golden_fixture.h's AllClose), per tensor:
//   |kiln - ref| <= 1e-4 * max(|ref|, 0.1 * max_j |ref_j|)
// The script drops every case whose own float32 PyTorch run misses it, so each kept case is one a
// float32 implementation can meet.
//
// Cases that fail for a known reason are listed in KnownFailures() with the reason and skipped,
// so the suite is green; KILN_RANDOM_DIFF_ALL=1 runs them too (to measure the true pass rate or to
// re-enable a case once its cause is fixed). Run the binary directly for the summary line.
//
// Cost: each case is its own compile (frontend, passes, LLVM O3, JIT), ~0.5 s of which ~90% is
// LLVM; ctest runs the cases as separate tests, so `ctest -R RandomDifferential -j N` spreads them.
// Regenerate the fixture: /usr/bin/python3 tests/golden/make_random_fixtures.py
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "ir/optimizer_defs.h"
#include "passes/optimizers.h"
#include "passes/training_step.h"
#include "tests/golden/compile_step.h"
#include "tests/golden/golden_fixture.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

constexpr double kRtol = 1e-4;
constexpr char kFixturePath[] = "tests/golden/random_models.kgf";

using golden::AllClose;
using golden::Fixture;
using golden::GoldTensor;

// Cases skipped, with their reason: none today. The first run of this test found three
// failures, all rank-0 parameters with clip_grad_norm (fixed); a fourth came from the fixture (a
// bias feeding batch norm has an analytically zero gradient whose float32 rounding noise an
// adaptive optimizer turns into a full step), so the generator no longer gives such layers a bias.
// A case that fails for a reason outside kiln goes here with that reason, so the suite stays
// green and the failure stays visible (KILN_RANDOM_DIFF_ALL=1 runs it anyway).
const std::map<std::string, std::string>& KnownFailures() {
  static const auto* known = new std::map<std::string, std::string>{};
  return *known;
}

const Fixture* RandomFixture() {
  static const Fixture* fixture = [] {
    absl::StatusOr<Fixture> loaded = golden::LoadFixture(kFixturePath);
    if (!loaded.ok()) std::cerr << loaded.status() << "\n";
    return loaded.ok() ? new Fixture(*std::move(loaded)) : nullptr;
  }();
  return fixture;
}

// "meta case NAME worst32=E TAGS..." -> NAME.
std::vector<std::string> CaseNames() {
  if (RandomFixture() == nullptr) return {"missing_fixture"};
  std::vector<std::string> names;
  for (const std::string& line : RandomFixture()->MetaAll("case")) {
    names.push_back(std::vector<std::string>(absl::StrSplit(line, ' '))[0]);
  }
  return names;
}

std::string CaseLine(const std::string& name) {
  for (const std::string& line : RandomFixture()->MetaAll("case")) {
    if (absl::StartsWith(line, name + " ")) return line;
  }
  return "";
}

// The fixture's tensors "<prefix><suffix>", by suffix.
std::map<std::string, const GoldTensor*> WithPrefix(const Fixture& fixture,
                                                    const std::string& prefix) {
  std::map<std::string, const GoldTensor*> found;
  for (auto it = fixture.tensors.lower_bound(prefix);
       it != fixture.tensors.end() && absl::StartsWith(it->first, prefix); ++it) {
    found[it->first.substr(prefix.size())] = &it->second;
  }
  return found;
}

// Rows [step * n, (step + 1) * n) of a tensor whose leading dim is the step.
std::vector<double> StepSlice(const GoldTensor& tensor, int64_t step) {
  const size_t per_step = tensor.values.size() / tensor.shape[0];
  return std::vector<double>(tensor.values.begin() + step * per_step,
                             tensor.values.begin() + (step + 1) * per_step);
}

std::vector<double> Values(const absl::StatusOr<std::vector<double>>& result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::vector<double>{};
}

// Outcome counts for the summary line (one process running many cases).
struct Tally {
  int passed = 0, failed = 0, skipped = 0;
  std::vector<std::string> failures;
};
Tally& Results() {
  static Tally tally;
  return tally;
}

class RandomDifferentialTest : public testing::TestWithParam<std::string> {
 protected:
  void TearDown() override {
    if (IsSkipped()) {
      ++Results().skipped;
    } else if (HasFailure()) {
      ++Results().failed;
      Results().failures.push_back(GetParam());
    } else {
      ++Results().passed;
    }
  }
};

TEST_P(RandomDifferentialTest, StepsMatchPyTorch) {
  ASSERT_NE(RandomFixture(), nullptr) << kFixturePath << " is missing or unreadable";
  const Fixture& fixture = *RandomFixture();
  const std::string& name = GetParam();
  if (auto it = KnownFailures().find(name);
      it != KnownFailures().end() && std::getenv("KILN_RANDOM_DIFF_ALL") == nullptr) {
    GTEST_SKIP() << "known failure: " << it->second;
  }
  const GoldTensor* text_tensor = fixture.Find(name + ".kiln");
  const GoldTensor* expected_losses = fixture.Find(name + ".losses");
  ASSERT_TRUE(text_tensor && expected_losses);
  std::string text(text_tensor->values.begin(), text_tensor->values.end());
  SCOPED_TRACE(absl::StrCat(CaseLine(name), "\n", text));

  absl::StatusOr<golden::CompiledStep> compiled = golden::CompileTrainingStep(text, name + ".kiln");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const ir::TrainConfig* train = &compiled->train;
  tools::GraphRunner& step = *compiled->runner;

  for (const auto& [param, init] : WithPrefix(fixture, name + ".init.")) {
    ASSERT_TRUE(step.Set(param, init->values).ok()) << param;
  }
  // x and y carry a leading steps dim; any other input (class weights) is the same every step.
  std::map<std::string, const GoldTensor*> per_step;
  for (const auto& [input, values] : WithPrefix(fixture, name + ".input.")) {
    if (input == "x" || input == "y") {
      per_step[input] = values;
      continue;
    }
    ASSERT_TRUE(step.Set(input, values->values).ok()) << input;
  }
  ASSERT_TRUE(step.Set(passes::kLearningRateInput, {train->optimizer.Get("lr", 0.0)}).ok());

  std::vector<double> losses;
  for (int64_t s = 0; s < static_cast<int64_t>(expected_losses->values.size()); ++s) {
    for (const auto& [input, values] : per_step) {
      ASSERT_TRUE(step.Set(input, StepSlice(*values, s)).ok()) << input;
    }
    ASSERT_TRUE(step.Run().ok());
    std::vector<double> loss = Values(step.Read(passes::kLossOutput));
    ASSERT_EQ(loss.size(), 1u);
    losses.push_back(loss[0]);
  }
  EXPECT_TRUE(AllClose("loss per step", losses, expected_losses->values, kRtol));
  for (const auto& [param, final] : WithPrefix(fixture, name + ".final.")) {
    EXPECT_TRUE(AllClose(param, Values(step.Read(param)), final->values, kRtol));
  }
}

INSTANTIATE_TEST_SUITE_P(Case, RandomDifferentialTest, testing::ValuesIn(CaseNames()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Guards against a regenerated fixture that silently lost variety: every optimizer kiln knows,
// and each model family, appears among the cases; and no known failure names a missing case.
TEST(RandomDifferentialCoverageTest, CoversOptimizersAndFamilies) {
  ASSERT_NE(RandomFixture(), nullptr);
  std::vector<std::string> names = CaseNames();
  EXPECT_GE(names.size(), 250u);
  std::set<std::string> tags;
  for (const std::string& name : names) {
    for (absl::string_view tag : absl::StrSplit(CaseLine(name), ' ')) tags.insert(std::string(tag));
  }
  for (const char* family : {"mlp", "cnn", "rnn", "batch_norm1d", "batch_norm2d", "layer_norm"}) {
    EXPECT_TRUE(tags.count(family)) << family;
  }
  for (const std::string& kind : ir::OptimizerNames()) {
    EXPECT_TRUE(std::any_of(tags.begin(), tags.end(), [&](const std::string& tag) {
      return absl::StartsWith(tag, kind);
    })) << kind;
  }
  const std::set<std::string> all(names.begin(), names.end());
  for (const auto& [name, reason] : KnownFailures()) EXPECT_TRUE(all.count(name)) << name;
}

// Prints the pass rate after the cases have run.
class SummaryPrinter : public testing::Environment {
 public:
  void TearDown() override {
    const Tally& t = Results();
    const int ran = t.passed + t.failed;
    if (ran + t.skipped == 0) return;
    std::cout << "random differential test: " << ran + t.skipped << " cases, " << t.passed
              << " passed, " << t.failed << " failed, " << t.skipped
              << " skipped as known failures; pass rate "
              << (ran ? 100.0 * t.passed / (ran + t.skipped) : 0.0) << "% of all cases\n";
    for (const std::string& name : t.failures) std::cout << "  FAILED " << name << "\n";
  }
};
const testing::Environment* const kSummary = testing::AddGlobalTestEnvironment(new SummaryPrinter);

}  // namespace
}  // namespace kiln
