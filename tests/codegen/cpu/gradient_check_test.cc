// The finite-difference gradient check, one test per registered op (ggml's test-backend-ops
// idea): for each op, small graphs loss = sum(op(params) * w) with fixed random weights w are
// differentiated by passes::AppendGradients, compiled by the real pipeline (GraphRunner: simplify,
// fuse, plan memory, LLVM JIT) and the analytic gradients compared with central differences of
// the same compiled loss. Composites are expanded first; ops that stop gradients must give zero.
//
// Inputs are drawn per operand from domains that keep the difference quotient away from kinks:
// relu, abs, leaky_relu, clamp, maximum and minimum never see a kink or tie within eps, reduce_max
// and reduce_min see distinct values, log/sqrt/pow get positive inputs, div a denominator away
// from zero.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "support/status.h"
#include "tests/codegen/op_cases.h"
#include "tools/graph_runner.h"

namespace kiln::cpu {
namespace {

using ir::Attrs;
using ir::DType;
using ir::Graph;
using ir::NodeId;
using ir::Shape;
using ir::TensorType;

using op_cases::Domain;
using op_cases::GradCase;

// A case built, compiled and fed.
struct Prepared {
  std::unique_ptr<tools::GraphRunner> runner;
  std::vector<std::string> params;
  std::vector<std::vector<double>> values;  // Of each entry of `params`.
};

absl::StatusOr<Prepared> Prepare(const GradCase& c, uint32_t seed) {
  KILN_ASSIGN_OR_RETURN(op_cases::CaseGraph built, op_cases::BuildCaseGraph(c, seed));
  Prepared prepared;
  prepared.params = built.params;
  prepared.values = built.param_values;
  KILN_ASSIGN_OR_RETURN(prepared.runner, tools::GraphRunner::Compile(std::move(built.graph)));
  for (const auto& [name, values] : built.feeds) {
    KILN_RETURN_IF_ERROR(prepared.runner->Set(name, values));
  }
  return prepared;
}

// Reads an output by name. Simplification may merge two outputs into one node (both gradients
// of a+b are the incoming gradient); the memory plan names that node's buffer after the first
// output only, so read it under that name.
absl::StatusOr<std::vector<double>> ReadOutput(const tools::GraphRunner& runner,
                                               const std::string& name) {
  const ir::Graph& graph = runner.program().graph;
  NodeId id = graph.Output(name);
  for (const auto& [other, node] : graph.outputs) {
    if (node == id) return runner.Read(other);
  }
  return runner.Read(name);
}

absl::StatusOr<double> Loss(tools::GraphRunner& runner) {
  if (absl::Status s = runner.Run(); !s.ok()) return s;
  auto loss = runner.Read("loss");
  if (!loss.ok()) return loss.status();
  return (*loss)[0];
}

constexpr double kEps = 1e-2;
// f32 losses of O(10) carry ~1e-6 rounding, ~1e-4 after dividing by 2 eps; the curvature terms of
// the smooth ops here stay below that. A wrong rule is off by O(0.1) or more.
constexpr double kAbsTol = 3e-3;
constexpr double kRelTol = 1e-2;

// Compares analytic and numeric gradients; returns one line per mismatching element (empty if
// all agree) so that the broken-rule test can check that mismatches are caught.
absl::StatusOr<std::vector<std::string>> CheckCase(const GradCase& c, uint32_t seed = 1) {
  absl::StatusOr<Prepared> prepared = Prepare(c, seed);
  if (!prepared.ok()) return prepared.status();
  tools::GraphRunner& runner = *prepared->runner;
  if (absl::Status s = runner.Run(); !s.ok()) return s;
  std::vector<std::vector<double>> analytic;
  for (size_t i = 0; i < prepared->params.size(); ++i) {
    auto grad = ReadOutput(runner, absl::StrCat("grad_", i));
    if (!grad.ok()) return grad.status();
    analytic.push_back(*grad);
  }
  std::vector<std::string> mismatches;
  for (size_t i = 0; i < prepared->params.size(); ++i) {
    const std::string& name = prepared->params[i];
    std::vector<double> values = prepared->values[i];
    if (analytic[i].size() != values.size()) {
      return absl::InternalError(absl::StrCat("grad_", i, " has ", analytic[i].size(),
                                              " elements, ", name, " has ", values.size()));
    }
    for (size_t j = 0; j < values.size(); ++j) {
      if (c.expect_zero) {
        if (analytic[i][j] != 0.0) {
          mismatches.push_back(absl::StrCat(name, "[", j, "]: analytic ", analytic[i][j],
                                            ", expected exactly 0"));
        }
        continue;
      }
      const double original = values[j];
      values[j] = original + kEps;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      absl::StatusOr<double> plus = Loss(runner);
      values[j] = original - kEps;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      absl::StatusOr<double> minus = Loss(runner);
      values[j] = original;
      if (absl::Status s = runner.Set(name, values); !s.ok()) return s;
      if (!plus.ok()) return plus.status();
      if (!minus.ok()) return minus.status();
      const double numeric = (*plus - *minus) / (2 * kEps);
      const double got = analytic[i][j];
      const double tol = kAbsTol + kRelTol * std::max(std::abs(numeric), std::abs(got));
      if (std::abs(got - numeric) > tol || !std::isfinite(got)) {
        mismatches.push_back(absl::StrCat(name, "[", j, "]: analytic ", got, " vs numeric ",
                                          numeric, " (input ", original, ")"));
      }
    }
  }
  return mismatches;
}

class GradientCheckTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GradientCheckTest, AnalyticMatchesCentralDifferences) {
  const std::string& op = GetParam();
  const ir::OpDef* def = ir::OpRegistry::Global().Find(op);
  ASSERT_NE(def, nullptr);
  if (def->Has(ir::kLeaf)) GTEST_SKIP() << op << " is a leaf";
  if (op_cases::ExemptOps().count(op)) GTEST_SKIP() << op << ": " << op_cases::ExemptOps().at(op);
  std::map<std::string, std::vector<GradCase>> by_op = op_cases::CasesByOp();
  ASSERT_TRUE(by_op.count(op)) << "no gradient-check case for op '" << op << "'";
  for (const GradCase& c : by_op.at(op)) {
    SCOPED_TRACE(absl::StrCat(op, "/", c.label));
    absl::StatusOr<std::vector<std::string>> mismatches = CheckCase(c);
    ASSERT_TRUE(mismatches.ok()) << mismatches.status();
    EXPECT_TRUE(mismatches->empty()) << absl::StrJoin(*mismatches, "\n");
  }
}

INSTANTIATE_TEST_SUITE_P(EveryOp, GradientCheckTest,
                         ::testing::ValuesIn(ir::OpRegistry::Global().Names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(GradientCheckCoverageTest, EveryRegisteredOpHasACaseOrAReason) {
  std::map<std::string, std::vector<GradCase>> by_op = op_cases::CasesByOp();
  std::set<std::string> registered;
  for (const std::string& op : ir::OpRegistry::Global().Names()) {
    registered.insert(op);
    const ir::OpDef& def = *ir::OpRegistry::Global().Find(op);
    if (def.Has(ir::kLeaf)) continue;
    if (op_cases::ExemptOps().count(op)) {
      EXPECT_TRUE(def.Has(ir::kNoGradient)) << op << " is exempt but has a gradient rule";
      continue;
    }
    EXPECT_TRUE(by_op.count(op)) << "op '" << op << "' has no gradient-check case";
    bool differentiable = !def.Has(ir::kNoGradient);
    for (const GradCase& c : by_op[op]) {
      EXPECT_EQ(c.expect_zero, !differentiable) << op << "/" << c.label;
    }
  }
  for (const auto& [op, cases] : by_op) {
    EXPECT_TRUE(registered.count(op)) << "cases for unregistered op '" << op << "'";
  }
}

// The check must be able to fail: swap in a wrong rule for sub (the subtrahend's gradient not
// negated) and a transposed one for matmul, and expect both to be caught.
TEST(GradientCheckCoverageTest, DetectsBrokenGradientRules) {
  // Global() hands out a const view of a registry built on the heap; the test patches the
  // record in place and restores it before returning.
  auto* sub = const_cast<ir::OpDef*>(ir::OpRegistry::Global().Find("sub"));
  ir::GradientFn original = sub->gradient;
  sub->gradient = [](ir::GradContext& g) -> std::vector<std::optional<NodeId>> {
    return {g.b.SumToShape(g.output_grad, g.b.type(g.operand(0)).shape),
            g.b.SumToShape(g.output_grad, g.b.type(g.operand(1)).shape)};
  };
  absl::StatusOr<std::vector<std::string>> broken =
      CheckCase({"sub", "broken", {{{3, 4}}, {{4}}}});
  sub->gradient = original;
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_EQ(broken->size(), 4u) << "only p1's 4 elements are wrong:\n"
                                << absl::StrJoin(*broken, "\n");

  auto* matmul = const_cast<ir::OpDef*>(ir::OpRegistry::Global().Find("matmul"));
  original = matmul->gradient;
  matmul->gradient = [](ir::GradContext& g) -> std::vector<std::optional<NodeId>> {
    // dA = dC B^T is right; dB = (A^T dC)^T has the right shape on square operands only.
    NodeId da = g.b.MatMul(g.output_grad, g.operand(1), false, true);
    NodeId db = g.b.Transpose(g.b.MatMul(g.operand(0), g.output_grad, true, false), {1, 0});
    return {da, db};
  };
  broken = CheckCase({"matmul", "broken", {{{4, 4}}, {{4, 4}}}});
  matmul->gradient = original;
  ASSERT_TRUE(broken.ok()) << broken.status();
  EXPECT_GT(broken->size(), 0u);
  // With the rules restored the same cases pass.
  auto fixed = CheckCase({"sub", "restored", {{{3, 4}}, {{4}}}});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_TRUE(fixed->empty()) << absl::StrJoin(*fixed, "\n");
}

// Dropout while training: kept elements are scaled by 1/(1-p), about 1-p of them are kept,
// different keys give different masks, and the gradient uses the forward's mask.
TEST(DropoutTrainingTest, KeepsOneMinusPAndRescales) {
  constexpr int64_t kRows = 256, kCols = 256;
  constexpr double kP = 0.25;
  Graph graph;
  ir::GraphBuilder b(graph);
  NodeId x = b.Parameter("x", TensorType{DType::kF32, {kRows, kCols}},
                         {{"init", std::string("constant")}, {"value", 1.0}});
  NodeId w = b.Input("w", TensorType{DType::kF32, {kRows, kCols}});
  NodeId y = b.Op("dropout", {x}, {{"p", kP}});
  NodeId loss = b.ReduceSum(b.Mul(y, w), {0, 1});
  ASSERT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"y", y}, {"loss", loss}};
  ASSERT_TRUE(passes::ExpandComposites(graph, /*training=*/true).ok());
  auto grads = passes::AppendGradients(graph, graph.Output("loss"), {graph.FindByName("x")});
  ASSERT_TRUE(grads.ok()) << grads.status();
  graph.outputs.emplace_back("grad_x", (*grads)[0]);
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  ASSERT_TRUE(runner.ok()) << runner.status();
  const int64_t n = kRows * kCols;
  std::vector<double> weights(n);
  for (int64_t i = 0; i < n; ++i) weights[i] = 1.0 + (i % 5);
  ASSERT_TRUE((*runner)->Set("w", weights).ok());
  ASSERT_TRUE((*runner)->Set("x", std::vector<double>(n, 1.0)).ok());

  std::vector<std::vector<double>> masks;
  for (int64_t key : {7, 8}) {
    ASSERT_TRUE((*runner)->Set("kiln.rng", {static_cast<double>(key)}).ok());
    ASSERT_TRUE((*runner)->Run().ok());
    std::vector<double> out = *(*runner)->Read("y");
    std::vector<double> grad = *(*runner)->Read("grad_x");
    int64_t kept = 0;
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (out[i] != 0.0) {
        ++kept;
        ASSERT_NEAR(out[i], 1.0 / (1.0 - kP), 1e-6) << i;
      }
      sum += out[i];
      ASSERT_NEAR(grad[i], out[i] * weights[i], 1e-5) << i;  // d/dx of x*mask*scale*w.
    }
    // The kept fraction has standard deviation sqrt(p(1-p)/n) ~ 0.0017: 0.01 is ~6 sigma.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - kP, 0.01);
    EXPECT_NEAR(sum / n, 1.0, 0.015);  // Inverted dropout keeps the mean.
    masks.push_back(out);
  }
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += masks[0][i] != masks[1][i];
  // Independent masks differ where exactly one keeps: 2 p (1-p) = 37.5% of elements.
  EXPECT_NEAR(static_cast<double>(differ) / n, 2 * kP * (1 - kP), 0.015);
}

}  // namespace
}  // namespace kiln::cpu

namespace kiln::cpu {
namespace {

// A saturated sigmoid gives probabilities of exactly 0 and 1 in f32. binary_cross_entropy then
// clamps each log at -100 as PyTorch does, and its gradient stays finite (0 * inf would be NaN).
TEST(BinaryCrossEntropyTest, ProbabilitiesOfExactlyZeroAndOneAreClampedAndFinite) {
  Graph graph;
  graph.name = "bce_edges";
  ir::GraphBuilder b(graph);
  NodeId p = b.Parameter("p", TensorType{DType::kF32, {4}},
                         {{"init", std::string("constant")}, {"value", 0.0}});
  NodeId t = b.Input("t", TensorType{DType::kF32, {4}});
  NodeId loss = b.Op("binary_cross_entropy", {p, t}, {{"reduction", std::string("none")}});
  NodeId total = b.ReduceSum(loss, {0});
  ASSERT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"loss", loss}, {"total", total}};
  ASSERT_TRUE(passes::ExpandComposites(graph, /*training=*/false).ok());
  auto grads = passes::AppendGradients(graph, graph.Output("total"), {graph.FindByName("p")});
  ASSERT_TRUE(grads.ok()) << grads.status();
  graph.outputs.emplace_back("grad", (*grads)[0]);
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Set("p", {0.0, 1.0, 0.0, 1.0}).ok());
  ASSERT_TRUE((*runner)->Set("t", {0.0, 1.0, 1.0, 0.0}).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  // Right answers cost 0, confidently wrong ones the clamp's 100 (torch gives 0, 0, 100, 100).
  EXPECT_EQ(*(*runner)->Read("loss"), (std::vector<double>{0.0, 0.0, 100.0, 100.0}));
  auto grad = (*runner)->Read("grad");
  ASSERT_TRUE(grad.ok()) << grad.status();
  for (double g : *grad) EXPECT_TRUE(std::isfinite(g)) << g;
}

}  // namespace
}  // namespace kiln::cpu
