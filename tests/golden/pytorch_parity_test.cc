// PyTorch parity: kiln's compiled training steps and single ops against fixtures written by
// tests/golden/make_fixtures.py (PyTorch, float64 from float32 inputs). No Python at test time.
//
//   W3 (w3_adam.kgf, w3_sgd.kgf, w3_cross_entropy.kgf): the Fashion-MNIST MLP of
//   examples/fashion_mlp.kiln (or its functional cross-entropy twin) compiled for batch 16, five
//   steps from fixed initial weights: the loss of every step and the parameters afterwards.
//   Ops (ops.kgf): out = op(in...), loss = sum(out * upstream); out and d loss / d in_i.
//
// Tolerance (the same rule the script checks PyTorch's own float32 run against):
//   |kiln - ref| <= 1e-4 * max(|ref|, 0.1 * max_j |ref_j|)     per element, per tensor
// i.e. 1e-4 relative, with values under 10% of the tensor's largest magnitude judged against that
// 10% (an absolute allowance of 1e-5 * max|ref|), because a float32 sum of mixed-sign terms
// cannot give a tiny result to 1e-4 of itself.
//
// One exception, Adam's final parameters: Adam divides each element's gradient by its own RMS, so
// an element whose gradient is tiny and the result of cancellation (~1e-8 against a tensor
// scale of ~1e-2) has its float32 rounding noise amplified into a visible step. PyTorch's own
// float32 run misses the rule above on 6 of 235,146 W3 elements (by up to 5.5x) for exactly this
// reason (make_fixtures.py checks it). Those fixtures therefore allow at most 1 element in 2,000
// of a tensor to miss the rule, each by no more than 50x; the count and the worst are printed
// (kiln today: 8 elements, at most 11.2x). Losses and optimizer state are held to the rule.
//
// KILN_GOLDEN_DUMP=1 prints each op case's graph (forward + backward) before it is compiled.
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/printer.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "passes/optimizers.h"
#include "passes/training_step.h"
#include "tests/golden/golden_fixture.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

constexpr double kRtol = 1e-4;
constexpr double kFloor = 0.1;

using golden::Fixture;
using golden::GoldTensor;
using golden::LoadFixture;
using golden::ParseHparams;

// ---------------------------------------------------------------------------------------------
// Comparison.

struct Comparison {
  int64_t misses = 0;     // Elements outside the tolerance.
  double worst = 0.0;     // Largest error in units of the tolerance (<= 1 passes).
  int64_t worst_at = -1;
  std::string detail;
};

Comparison Compare(const std::vector<double>& got, const std::vector<double>& want) {
  Comparison c;
  double scale = 0.0;
  for (double w : want) {
    if (!std::isnan(w)) scale = std::max(scale, std::abs(w));
  }
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    double allowed = kRtol * std::max(std::abs(want[i]), kFloor * scale);
    double error = std::abs(got[i] - want[i]);
    double units = allowed > 0 ? error / allowed : (error > 0 ? INFINITY : 0.0);
    // Where PyTorch gives NaN kiln must too (the NaN cases of ops.kgf).
    if (std::isnan(want[i])) units = std::isnan(got[i]) ? 0.0 : INFINITY;
    if (!(units <= 1.0)) ++c.misses;  // NaN counts as a miss.
    if (!(units <= c.worst)) {
      c.worst = units;
      c.worst_at = static_cast<int64_t>(i);
    }
  }
  if (c.worst_at >= 0) {
    c.detail = absl::StrFormat("worst at [%d]: kiln %.9g vs PyTorch %.9g (%.3g x tolerance), "
                               "%d of %d outside",
                               c.worst_at, got[c.worst_at], want[c.worst_at], c.worst, c.misses,
                               want.size());
  }
  return c;
}

// Every element within the tolerance.
testing::AssertionResult AllClose(const std::string& what, const std::vector<double>& got,
                                  const std::vector<double>& want) {
  if (got.size() != want.size()) {
    return testing::AssertionFailure()
           << what << ": kiln has " << got.size() << " values, PyTorch " << want.size();
  }
  Comparison c = Compare(got, want);
  if (c.misses == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << what << ": " << c.detail;
}

// Adam's final parameters: at most 1 element in 2,000 may miss, each by at most 50x (see top).
testing::AssertionResult AllCloseAdam(const std::string& what, const std::vector<double>& got,
                                      const std::vector<double>& want) {
  if (got.size() != want.size()) return AllClose(what, got, want);
  Comparison c = Compare(got, want);
  int64_t allowed_misses = static_cast<int64_t>(want.size()) / 2000;
  if (c.misses > 0) std::cout << "  [adam outliers] " << what << ": " << c.detail << "\n";
  if (c.misses <= allowed_misses && c.worst <= 50.0) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << what << ": " << c.detail << " (allowed: " << allowed_misses << " misses within 50x)";
}

template <typename T>
std::vector<double> Values(const absl::StatusOr<T>& result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::vector<double>{};
}

// ---------------------------------------------------------------------------------------------
// W3.

struct Layer {
  const char* name;
  int64_t in, out;
};
constexpr Layer kLayers[] = {{"fc1", 784, 256}, {"fc2", 256, 128}, {"out", 128, 10}};

std::vector<double> InitialValues(int layer, bool bias) {
  const Layer& l = kLayers[layer];
  double bound = 1.0 / std::sqrt(static_cast<double>(l.in));
  int64_t count = bias ? l.out : l.in * l.out;
  std::vector<double> values(count);
  for (int64_t i = 0; i < count; ++i) values[i] = static_cast<float>(golden::HashedWeight(2 * layer + (bias ? 1 : 0), i, bound));
  return values;
}

absl::StatusOr<std::unique_ptr<tools::GraphRunner>> CompileTrainingStep(
    const Fixture& fixture, int64_t batch) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile(fixture.Meta("model"));
  if (!ast.ok()) return ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  if (!train.ok()) return train.status();
  train->batch_size = batch;
  train->optimizer.kind = fixture.Meta("optimizer");
  train->optimizer.hparams = ParseHparams(fixture.Meta("hparams"));
  absl::StatusOr<ir::Graph> model = frontend::LowerModel(*ast, {{"B", batch}});
  if (!model.ok()) return model.status();
  absl::StatusOr<ir::Graph> step = passes::BuildTrainingStep(*model, *train);
  if (!step.ok()) return step.status();
  return tools::GraphRunner::Compile(*std::move(step));
}

class W3ParityTest : public testing::TestWithParam<const char*> {};

TEST_P(W3ParityTest, LossesAndFinalParametersMatchPyTorch) {
  absl::StatusOr<Fixture> fixture = LoadFixture(GetParam());
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  int64_t batch = 0, steps = 0, fc1_stride = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fixture->Meta("batch"), &batch));
  ASSERT_TRUE(absl::SimpleAtoi(fixture->Meta("steps"), &steps));
  ASSERT_TRUE(absl::SimpleAtoi(fixture->Meta("fc1_row_stride"), &fc1_stride));
  const GoldTensor* pixels = fixture->Find("pixels");
  const GoldTensor* labels = fixture->Find("labels");
  const GoldTensor* losses = fixture->Find("losses");
  ASSERT_TRUE(pixels && labels && losses);
  ASSERT_EQ(static_cast<int64_t>(losses->values.size()), steps);
  ASSERT_EQ(static_cast<int64_t>(labels->values.size()), batch * steps);

  absl::StatusOr<std::unique_ptr<tools::GraphRunner>> runner =
      CompileTrainingStep(*fixture, batch);
  ASSERT_TRUE(runner.ok()) << runner.status();
  tools::GraphRunner& step = **runner;
  for (int layer = 0; layer < 3; ++layer) {
    for (bool bias : {false, true}) {
      std::string name = absl::StrCat(kLayers[layer].name, bias ? ".bias" : ".weight");
      ASSERT_TRUE(step.Set(name, InitialValues(layer, bias)).ok()) << name;
    }
  }
  double lr = ParseHparams(fixture->Meta("hparams"))["lr"];
  ASSERT_TRUE(step.Set(passes::kLearningRateInput, {lr}).ok());

  // ToTensor() then Normalize(0.5, 0.5), in double and rounded once, as the script does.
  std::vector<double> kiln_losses;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<double> x(batch * 784), y(batch);
    for (int64_t i = 0; i < batch * 784; ++i) {
      double pixel = pixels->values[s * batch * 784 + i];
      x[i] = static_cast<float>((pixel * (1.0 / 255.0) - 0.5) / 0.5);
    }
    for (int64_t i = 0; i < batch; ++i) y[i] = labels->values[s * batch + i];
    ASSERT_TRUE(step.Set("x", x).ok());
    ASSERT_TRUE(step.Set("y", y).ok());
    ASSERT_TRUE(step.Run().ok());
    std::vector<double> loss = Values(step.Read(passes::kLossOutput));
    ASSERT_EQ(loss.size(), 1u);
    kiln_losses.push_back(loss[0]);
  }
  EXPECT_TRUE(AllClose("loss per step", kiln_losses, losses->values));

  bool adam = fixture->Meta("optimizer") == "adam";
  std::vector<double> step_count = Values(step.Read(fixture->Meta("optimizer") + ".step"));
  EXPECT_EQ(step_count, std::vector<double>{static_cast<double>(steps)});
  int checked = 0;
  for (const auto& [key, want] : fixture->tensors) {
    if (key.rfind("final.", 0) != 0) continue;
    std::string name = key.substr(6);
    std::vector<double> got = Values(step.Read(name));
    if (name == "fc1.weight" && fc1_stride > 1) {  // The fixture keeps every fc1_stride-th row.
      std::vector<double> rows;
      for (int64_t r = 0; r < 784; r += fc1_stride) {
        rows.insert(rows.end(), got.begin() + r * 256, got.begin() + (r + 1) * 256);
      }
      got = rows;
    }
    // Adam's outlier allowance applies to its parameters; optimizer state is checked strictly.
    bool is_param = name.find(".weight") == name.size() - 7 || name.find(".bias") == name.size() - 5;
    EXPECT_TRUE(adam && is_param ? AllCloseAdam(name, got, want.values)
                                 : AllClose(name, got, want.values));
    ++checked;
  }
  EXPECT_GE(checked, 6) << "the fixture holds too few final tensors";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, W3ParityTest,
                         testing::Values("tests/golden/w3_adam.kgf", "tests/golden/w3_sgd.kgf",
                                         "tests/golden/w3_cross_entropy.kgf"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           std::string name = info.param;
                           name = name.substr(name.rfind('/') + 1);
                           return name.substr(0, name.find('.'));
                         });

// ---------------------------------------------------------------------------------------------
// Per-op forward and backward.

struct OpCase {
  std::string name, op;
  ir::Attrs attrs;
  std::vector<char> kinds;  // 'x' float with gradient, 't' i64 targets, 'w' float, no gradient.
};

// "meta case NAME OP | ATTRS | OPERANDS", e.g. "nll_w_mean nll_loss | reduction=mean | x:6x5 t:6 w:5".
OpCase ParseCase(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '|');
  EXPECT_EQ(parts.size(), 3u) << text;
  parts.resize(3);
  OpCase c;
  std::vector<std::string> head = absl::StrSplit(parts[0], ' ', absl::SkipEmpty());
  c.name = head.at(0);
  c.op = head.at(1);
  for (absl::string_view item : absl::StrSplit(parts[1], ' ', absl::SkipEmpty())) {
    if (item == "-") continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(item, '=');
    int64_t number = 0;
    if (kv.first == "dims" || absl::StrContains(kv.second, ',')) {
      std::vector<int64_t> dims;
      for (absl::string_view d : absl::StrSplit(kv.second, ',')) {
        EXPECT_TRUE(absl::SimpleAtoi(d, &number)) << text;
        dims.push_back(number);
      }
      c.attrs.Set(kv.first, dims);
    } else if (absl::SimpleAtoi(kv.second, &number)) {
      c.attrs.Set(kv.first, number);
    } else if (double real = 0; absl::SimpleAtod(kv.second, &real)) {
      c.attrs.Set(kv.first, real);
    } else {
      c.attrs.Set(kv.first, kv.second);
    }
  }
  for (absl::string_view operand : absl::StrSplit(parts[2], ' ', absl::SkipEmpty())) {
    c.kinds.push_back(operand[0]);
  }
  return c;
}

// out = op(in0, in1, ...); loss = sum(out * upstream); outputs out and grad<i> for each 'x'.
absl::StatusOr<ir::Graph> BuildOpGraph(const OpCase& c, const Fixture& fixture) {
  ir::Graph graph;
  graph.name = c.name;
  ir::GraphBuilder b(graph);
  std::vector<ir::NodeId> operands;
  for (size_t i = 0; i < c.kinds.size(); ++i) {
    const GoldTensor* t = fixture.Find(absl::StrCat(c.name, ".in", i));
    if (t == nullptr) return absl::NotFoundError(absl::StrCat(c.name, ": no input ", i));
    ir::DType dtype = t->dtype == "i64" ? ir::DType::kI64 : ir::DType::kF32;
    operands.push_back(b.Input(absl::StrCat("in", i), ir::TensorType{dtype, t->shape}));
  }
  ir::NodeId out = b.Op(c.op, operands, c.attrs, "out");
  if (!b.status().ok()) return b.status();
  // Integer results (argmax, cast) are weighted as floats; they have no gradient.
  ir::NodeId scored = b.type(out).dtype == ir::DType::kF32 ? out : b.Cast(out, ir::DType::kF32);
  ir::NodeId upstream = b.Input("upstream", b.type(scored));
  ir::NodeId product = b.Mul(scored, upstream);
  std::vector<int64_t> all_dims;
  for (int64_t d = 0; d < b.type(out).rank(); ++d) all_dims.push_back(d);
  ir::NodeId loss = all_dims.empty() ? product : b.ReduceSum(product, all_dims);
  if (!b.status().ok()) return b.status();
  graph.outputs = {{"out", out}, {"loss", loss}};

  if (absl::StatusOr<bool> expanded = passes::ExpandComposites(graph, /*training=*/true);
      !expanded.ok()) {
    return expanded.status();
  }
  std::vector<ir::NodeId> wrt;
  std::vector<std::string> grad_names;
  for (size_t i = 0; i < c.kinds.size(); ++i) {
    if (c.kinds[i] != 'x') continue;
    wrt.push_back(graph.FindByName(absl::StrCat("in", i)));
    grad_names.push_back(absl::StrCat("grad", i));
  }
  absl::StatusOr<std::vector<ir::NodeId>> grads =
      passes::AppendGradients(graph, graph.Output("loss"), wrt);
  if (!grads.ok()) return grads.status();
  for (size_t k = 0; k < grads->size(); ++k) graph.outputs.emplace_back(grad_names[k], (*grads)[k]);
  if (std::getenv("KILN_GOLDEN_DUMP")) std::cerr << ir::PrintGraph(graph);
  return graph;
}

// The fixture is read once; the case list drives test instantiation, so each case is its own
// test (OpParityTest.Case/nll_w_mean).
const Fixture* OpsFixture() {
  static const Fixture* fixture = [] {
    absl::StatusOr<Fixture> loaded = LoadFixture("tests/golden/ops.kgf");
    if (!loaded.ok()) std::cerr << loaded.status() << "\n";
    return loaded.ok() ? new Fixture(*std::move(loaded)) : nullptr;
  }();
  return fixture;
}

std::vector<std::string> CaseTexts() {
  std::vector<std::string> texts;
  if (OpsFixture() == nullptr) return {"missing_fixture - | - | -"};
  for (const auto& [key, value] : OpsFixture()->meta) {
    if (key == "case") texts.push_back(value);
  }
  return texts;
}

class OpParityTest : public testing::TestWithParam<std::string> {};

TEST_P(OpParityTest, ForwardAndGradientsMatchPyTorch) {
  ASSERT_NE(OpsFixture(), nullptr) << "tests/golden/ops.kgf is missing or unreadable";
  const Fixture& fixture = *OpsFixture();
  OpCase c = ParseCase(GetParam());
  SCOPED_TRACE(absl::StrCat(c.op, " ", c.attrs.ToString()));
  absl::StatusOr<ir::Graph> graph = BuildOpGraph(c, fixture);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::unique_ptr<tools::GraphRunner>> runner =
      tools::GraphRunner::Compile(*std::move(graph));
  ASSERT_TRUE(runner.ok()) << runner.status();
  for (size_t i = 0; i < c.kinds.size(); ++i) {
    const GoldTensor* in = fixture.Find(absl::StrCat(c.name, ".in", i));
    absl::Status set = (*runner)->Set(absl::StrCat("in", i), in->values);
    EXPECT_TRUE(set.ok()) << "in" << i << ": " << set;
  }
  ASSERT_TRUE((*runner)->Set("upstream", fixture.Find(c.name + ".upstream")->values).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  EXPECT_TRUE(AllClose("forward", Values((*runner)->Read("out")),
                       fixture.Find(c.name + ".out")->values));
  for (size_t i = 0; i < c.kinds.size(); ++i) {
    if (c.kinds[i] != 'x') continue;
    std::string grad = absl::StrCat("grad", i);
    EXPECT_TRUE(AllClose(absl::StrCat("d/d in", i), Values((*runner)->Read(grad)),
                         fixture.Find(absl::StrCat(c.name, ".", grad))->values));
  }
}

INSTANTIATE_TEST_SUITE_P(Case, OpParityTest, testing::ValuesIn(CaseTexts()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return ParseCase(info.param).name;
                         });

// Every registered op has at least one PyTorch case, or a reason here why it is checked
// elsewhere (guards against an op added without a fixture, and a fixture that lost cases).
TEST(OpParityCoverageTest, EveryRegisteredOpHasAPyTorchCase) {
  ASSERT_NE(OpsFixture(), nullptr);
  const std::map<std::string, std::string> elsewhere = {
      {"batch_norm", "batch_norm.kgf (batch_norm_parity_test): two training steps and evaluation"},
      {"dropout", "random: kept fraction, scaling and mask reuse in DropoutTrainingTest"},
      {"random_uniform", "random: bit-exact against the host hash in the constant evaluator tests"},
      {"iota", "no operands: fused_kernel_test"},
      {"binary_cross_entropy_term",
       "binary_cross_entropy's element: its cases, and fidelity.kgf's saturated sigmoids"},
      {"adaptive_avg_pool2d_grad", "adaptive_avg_pool2d's gradient: its cases' input gradients"},
      {"all_reduce", "identity on one rank: gradient_check_test and data_parallel_test"},
  };
  std::map<std::string, int> ops;
  for (const std::string& text : CaseTexts()) ++ops[ParseCase(text).op];
  for (const std::string& op : ir::OpRegistry::Global().Names()) {
    if (ir::OpRegistry::Global().Find(op)->Has(ir::kLeaf) || elsewhere.count(op)) continue;
    EXPECT_GT(ops[op], 0) << "op '" << op << "' has no PyTorch case in ops.kgf";
  }
}

}  // namespace
}  // namespace kiln
