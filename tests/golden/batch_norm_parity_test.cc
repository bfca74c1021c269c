// PyTorch parity of the batch_norm1d / batch_norm2d layers against batch_norm.kgf (written by
// make_fixtures.py from nn.BatchNorm1d/2d in float64). Each case is a one-layer model compiled
// from .kiln text through the frontend, composite expansion, autodiff and the CPU backend:
//   out = batch_normNd(x, momentum, eps, name=bn); loss = sum(out * upstream)
// Two training steps check the output, the gradients of x, weight and bias and the running
// statistics after each step (they are updated in place by the step); then the evaluation step,
// given the trained state, must reproduce bn.eval()'s output, which uses the running statistics.
// Tolerance: 1e-4 relative with make_fixtures.py's 10% floor (golden_fixture.h).
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "passes/training_step.h"
#include "tests/golden/golden_fixture.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

constexpr char kFixturePath[] = "tests/golden/batch_norm.kgf";
constexpr double kRtol = 1e-4;

const golden::Fixture* BatchNormFixture() {
  static const golden::Fixture* fixture = [] {
    absl::StatusOr<golden::Fixture> loaded = golden::LoadFixture(kFixturePath);
    if (!loaded.ok()) std::cerr << loaded.status() << "\n";
    return loaded.ok() ? new golden::Fixture(*std::move(loaded)) : nullptr;
  }();
  return fixture;
}

// "meta case NAME LAYER MOMENTUM EPS".
struct Case {
  std::string name, layer, momentum, eps;
};

Case ParseCase(const std::string& text) {
  std::vector<std::string> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  words.resize(4);
  return {words[0], words[1], words[2], words[3]};
}

std::vector<std::string> CaseTexts() {
  if (BatchNormFixture() == nullptr) return {"missing_fixture batch_norm1d 0.1 1e-5"};
  return BatchNormFixture()->MetaAll("case");
}

absl::StatusOr<ir::Graph> LowerCase(const Case& c, const std::vector<int64_t>& shape) {
  const std::string dims = absl::StrJoin(shape, ", ");
  const std::string text = absl::StrFormat(
      "model %s {\n"
      "  input x: f32[%s]\n"
      "  input upstream: f32[%s]\n"
      "  out = %s(x, momentum=%s, eps=%s, name=bn)\n"
      "  loss = reduce_sum(out * upstream)\n"
      "}\n",
      c.name, dims, dims, c.layer, c.momentum, c.eps);
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(text, c.name + ".kiln");
  if (!ast.ok()) return ast.status();
  absl::StatusOr<ir::Graph> model = frontend::LowerModel(*ast, {});
  if (!model.ok()) return model.status();
  const ir::NodeId layer = model->FindByName("bn");
  if (layer == ir::kNoNode) return absl::InternalError("no node named 'bn'");
  model->outputs.emplace_back("out", layer);
  return model;
}

// The training-mode forward with its in-place running-statistics updates, and the gradients of
// the loss with respect to x, weight and bias as outputs grad_x, grad_weight, grad_bias.
absl::StatusOr<std::unique_ptr<tools::GraphRunner>> CompileTraining(ir::Graph graph) {
  if (auto expanded = passes::ExpandComposites(graph, /*training=*/true); !expanded.ok()) {
    return expanded.status();
  }
  std::vector<ir::NodeId> wrt = {graph.FindByName("x"), graph.FindByName("bn.weight"),
                                 graph.FindByName("bn.bias")};
  absl::StatusOr<std::vector<ir::NodeId>> grads =
      passes::AppendGradients(graph, graph.Output("loss"), wrt);
  if (!grads.ok()) return grads.status();
  const char* names[] = {"grad_x", "grad_weight", "grad_bias"};
  for (size_t i = 0; i < grads->size(); ++i) graph.outputs.emplace_back(names[i], (*grads)[i]);
  return tools::GraphRunner::Compile(std::move(graph));
}

std::vector<double> Read(const tools::GraphRunner& runner, const std::string& name) {
  absl::StatusOr<std::vector<double>> values = runner.Read(name);
  EXPECT_TRUE(values.ok()) << name << ": " << values.status();
  return values.ok() ? *values : std::vector<double>{};
}

class BatchNormParityTest : public testing::TestWithParam<std::string> {};

TEST_P(BatchNormParityTest, TwoTrainingStepsThenEvaluationMatchPyTorch) {
  const golden::Fixture* fixture = BatchNormFixture();
  ASSERT_NE(fixture, nullptr) << kFixturePath << " is missing or unreadable";
  const Case c = ParseCase(GetParam());
  const golden::GoldTensor* x1 = fixture->Find(c.name + ".x1");
  ASSERT_NE(x1, nullptr);
  absl::StatusOr<ir::Graph> model = LowerCase(c, x1->shape);
  ASSERT_TRUE(model.ok()) << model.status();

  absl::StatusOr<std::unique_ptr<tools::GraphRunner>> train = CompileTraining(*model);
  ASSERT_TRUE(train.ok()) << train.status();
  tools::GraphRunner& step = **train;
  ASSERT_TRUE(step.Set("bn.weight", fixture->Values(c.name + ".weight")).ok());
  ASSERT_TRUE(step.Set("bn.bias", fixture->Values(c.name + ".bias")).ok());
  // A fresh layer starts from running_mean = 0 and running_var = 1, as nn.BatchNorm does.
  const size_t channels = fixture->Values(c.name + ".weight").size();
  EXPECT_EQ(Read(step, "bn.running_mean"), std::vector<double>(channels, 0.0));
  EXPECT_EQ(Read(step, "bn.running_var"), std::vector<double>(channels, 1.0));
  for (int s = 1; s <= 2; ++s) {
    SCOPED_TRACE(absl::StrCat("training step ", s));
    ASSERT_TRUE(step.Set("x", fixture->Values(absl::StrCat(c.name, ".x", s))).ok());
    ASSERT_TRUE(step.Set("upstream", fixture->Values(absl::StrCat(c.name, ".upstream", s))).ok());
    ASSERT_TRUE(step.Run().ok());
    for (const char* key : {"out", "grad_x", "grad_weight", "grad_bias"}) {
      EXPECT_TRUE(golden::AllClose(key, Read(step, key),
                                   fixture->Values(absl::StrCat(c.name, ".", key, s)), kRtol));
    }
    for (const char* key : {"running_mean", "running_var"}) {
      EXPECT_TRUE(golden::AllClose(key, Read(step, absl::StrCat("bn.", key)),
                                   fixture->Values(absl::StrCat(c.name, ".", key, s)), kRtol));
    }
  }

  // The evaluation step, given the state the training steps left.
  absl::StatusOr<ir::Graph> eval_graph = passes::BuildEvalStep(*model);
  ASSERT_TRUE(eval_graph.ok()) << eval_graph.status();
  absl::StatusOr<std::unique_ptr<tools::GraphRunner>> eval =
      tools::GraphRunner::Compile(*std::move(eval_graph));
  ASSERT_TRUE(eval.ok()) << eval.status();
  for (const char* name : {"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"}) {
    ASSERT_TRUE((*eval)->Set(name, Read(step, name)).ok()) << name;
  }
  ASSERT_TRUE((*eval)->Set("x", fixture->Values(c.name + ".x3")).ok());
  ASSERT_TRUE((*eval)->Set("upstream", fixture->Values(c.name + ".upstream1")).ok());
  ASSERT_TRUE((*eval)->Run().ok());
  EXPECT_TRUE(golden::AllClose("eval out", Read(**eval, "out"),
                               fixture->Values(c.name + ".eval_out3"), kRtol));
}

INSTANTIATE_TEST_SUITE_P(Case, BatchNormParityTest, testing::ValuesIn(CaseTexts()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return ParseCase(info.param).name;
                         });

// Both layers and every input rank they take are covered.
TEST(BatchNormParityCoverageTest, CoversBothLayersAndEveryRank) {
  ASSERT_NE(BatchNormFixture(), nullptr);
  std::set<std::pair<std::string, size_t>> seen;
  for (const std::string& text : CaseTexts()) {
    Case c = ParseCase(text);
    seen.insert({c.layer, BatchNormFixture()->Find(c.name + ".x1")->shape.size()});
  }
  EXPECT_TRUE(seen.count({"batch_norm1d", 2}));
  EXPECT_TRUE(seen.count({"batch_norm1d", 3}));
  EXPECT_TRUE(seen.count({"batch_norm2d", 4}));
}

}  // namespace
}  // namespace kiln
