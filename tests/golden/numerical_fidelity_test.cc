// Numerical fidelity against fidelity.kgf (written by make_fixtures.py from PyTorch), for the
// cases where a formula or a summation order, not an op's definition, decides the result:
//
//   BceSaturation: sigmoid then binary_cross_entropy at logits +-{10, 25, 28, 29.31, 40}. PyTorch's
//   BCE backward divides by max(p (1 - p), 1e-12), so where the sigmoid saturates the gradient
//   shrinks towards 0 instead of staying at -1 as the chain rule's would. Compared with PyTorch's
//   float32 result (saturation is a float32 effect) to 1e-5 per element.
//
//   PaddedConvBatchNorm: a 1x1 convolution with padding 2 (the border is the bias alone, so
//   |mean| / std is large) into batch_norm2d over 64 x 32 x 32 = 65,536 values per channel. A
//   left-to-right float32 mean was off by its rounding error, which normalization turned into
//   gradient errors of 1e-3..1.5e-2; now the gradients match float64 PyTorch to 1e-5 (1e-4 for
//   the convolution weights, a difference of nearly equal sums where PyTorch's own float32 run
//   misses 1e-5), under golden_fixture.h's 10%-floor rule.
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "passes/autodiff.h"
#include "passes/expand_composites.h"
#include "tests/golden/golden_fixture.h"
#include "tools/graph_runner.h"

namespace kiln {
namespace {

const golden::Fixture* FidelityFixture() {
  static const golden::Fixture* fixture = [] {
    absl::StatusOr<golden::Fixture> loaded = golden::LoadFixture("tests/golden/fidelity.kgf");
    if (!loaded.ok()) std::cerr << loaded.status() << "\n";
    return loaded.ok() ? new golden::Fixture(*std::move(loaded)) : nullptr;
  }();
  return fixture;
}

std::vector<double> Read(const tools::GraphRunner& runner, const std::string& name) {
  absl::StatusOr<std::vector<double>> values = runner.Read(name);
  EXPECT_TRUE(values.ok()) << name << ": " << values.status();
  return values.ok() ? *values : std::vector<double>{};
}

// Adds d loss / d wrt[i] as outputs grad_names[i] and compiles.
absl::StatusOr<std::unique_ptr<tools::GraphRunner>> CompileWithGradients(
    ir::Graph graph, const std::vector<std::string>& wrt_names) {
  if (auto expanded = passes::ExpandComposites(graph, /*training=*/true); !expanded.ok()) {
    return expanded.status();
  }
  std::vector<ir::NodeId> wrt;
  for (const std::string& name : wrt_names) wrt.push_back(graph.FindByName(name));
  absl::StatusOr<std::vector<ir::NodeId>> grads =
      passes::AppendGradients(graph, graph.Output("loss"), wrt);
  if (!grads.ok()) return grads.status();
  for (size_t i = 0; i < grads->size(); ++i) {
    graph.outputs.emplace_back("grad_" + wrt_names[i], (*grads)[i]);
  }
  return tools::GraphRunner::Compile(std::move(graph));
}

TEST(NumericalFidelityTest, BceSaturation) {
  const golden::Fixture* fixture = FidelityFixture();
  ASSERT_NE(fixture, nullptr) << "tests/golden/fidelity.kgf is missing or unreadable";
  std::vector<double> logits = fixture->Values("bce.logits");
  const int64_t n = static_cast<int64_t>(logits.size());
  ir::Graph graph;
  ir::GraphBuilder b(graph);
  ir::NodeId x = b.Input("x", {ir::DType::kF32, {n}});
  ir::NodeId t = b.Input("t", {ir::DType::kF32, {n}});
  ir::NodeId loss = b.Op("binary_cross_entropy", {b.Op("sigmoid", {x}), t},
                         {{"reduction", std::string("sum")}});
  ASSERT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"loss", loss}};
  auto runner = CompileWithGradients(std::move(graph), {"x"});
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Set("x", logits).ok());
  ASSERT_TRUE((*runner)->Set("t", fixture->Values("bce.target")).ok());
  ASSERT_TRUE((*runner)->Run().ok());
  auto expect_close = [](const std::string& what, const std::vector<double>& got,
                         const std::vector<double>& want, const std::vector<double>& logits) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_LE(std::abs(got[i] - want[i]), 1e-5 * std::abs(want[i]) + 1e-35)
          << what << "[" << i << "] at logit " << (logits.empty() ? 0.0 : logits[i]) << ": kiln "
          << got[i] << ", PyTorch " << want[i];
    }
  };
  expect_close("loss", Read(**runner, "loss"), fixture->Values("bce.loss"), {});
  expect_close("d loss / d logit", Read(**runner, "grad_x"), fixture->Values("bce.grad"), logits);
}

// "conv_bn batch=64 in_channels=3 ..." -> the integer after `key=`.
int64_t ConvBnSetting(const golden::Fixture& fixture, const std::string& key) {
  for (absl::string_view word : absl::StrSplit(fixture.Meta("conv_bn"), ' ')) {
    std::vector<std::string> kv = absl::StrSplit(word, '=');
    int64_t value = 0;
    if (kv.size() == 2 && kv[0] == key && absl::SimpleAtoi(kv[1], &value)) return value;
  }
  ADD_FAILURE() << "fidelity.kgf: no conv_bn setting " << key;
  return 1;
}

TEST(NumericalFidelityTest, PaddedConvBatchNorm) {
  const golden::Fixture* fixture = FidelityFixture();
  ASSERT_NE(fixture, nullptr) << "tests/golden/fidelity.kgf is missing or unreadable";
  const int64_t batch = ConvBnSetting(*fixture, "batch");
  const int64_t in = ConvBnSetting(*fixture, "in_channels");
  const int64_t out = ConvBnSetting(*fixture, "channels");
  const int64_t size = ConvBnSetting(*fixture, "size");
  const int64_t padding = ConvBnSetting(*fixture, "padding");
  const int64_t x_stride = ConvBnSetting(*fixture, "x_stride");
  const int64_t padded = size + 2 * padding;
  const std::string text = absl::StrCat(
      "model conv_bn {\n  input x: f32[", batch, ", ", in, ", ", size, ", ", size,
      "]\n  input upstream: f32[", batch, ", ", out, ", ", padded, ", ", padded,
      "]\n  h = conv2d(x, ", in, ", ", out, ", 1, padding=", padding,
      ", name=conv)\n  out = batch_norm2d(h, ", out,
      ", name=bn)\n  loss = reduce_sum(out * upstream)\n}\n");
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModel(text, "conv_bn.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<ir::Graph> model = frontend::LowerModel(*ast, {});
  ASSERT_TRUE(model.ok()) << model.status();
  auto runner =
      CompileWithGradients(*std::move(model), {"x", "conv.weight", "bn.weight", "bn.bias"});
  ASSERT_TRUE(runner.ok()) << runner.status();

  // The inputs make_fixtures.py draws from InitialWeight: x = 0.5 + U(-0.5, 0.5), upstream
  // U(-1, 1), each rounded to float32 as there.
  std::vector<double> x(batch * in * size * size), upstream(batch * out * padded * padded);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(static_cast<float>(golden::HashedWeight(101, i, 0.5)) + 0.5f);
  }
  for (size_t i = 0; i < upstream.size(); ++i) {
    upstream[i] = static_cast<float>(golden::HashedWeight(102, i, 1.0));
  }
  tools::GraphRunner& step = **runner;
  ASSERT_TRUE(step.Set("x", x).ok());
  ASSERT_TRUE(step.Set("upstream", upstream).ok());
  for (const char* name : {"conv_weight", "conv_bias", "bn_weight", "bn_bias"}) {
    std::string param = name;
    param[param.find('_')] = '.';
    ASSERT_TRUE(step.Set(param, fixture->Values(absl::StrCat("conv_bn.", name))).ok()) << param;
  }
  ASSERT_TRUE(step.Run().ok());

  std::vector<double> grad_x = Read(step, "grad_x");
  std::vector<double> sampled;
  for (size_t i = 0; i < grad_x.size(); i += x_stride) sampled.push_back(grad_x[i]);
  const std::vector<std::pair<std::string, std::vector<double>>> results = {
      {"grad_x", sampled},
      {"grad_conv_weight", Read(step, "grad_conv.weight")},
      {"grad_bn_weight", Read(step, "grad_bn.weight")},
      {"grad_bn_bias", Read(step, "grad_bn.bias")}};
  for (const auto& [key, got] : results) {
    double rtol = 0.0;
    for (const std::string& line : fixture->MetaAll("conv_bn_rtol")) {
      std::vector<std::string> words = absl::StrSplit(line, ' ');
      if (words.size() == 2 && words[0] == key) ASSERT_TRUE(absl::SimpleAtod(words[1], &rtol));
    }
    ASSERT_GT(rtol, 0.0) << "fidelity.kgf: no tolerance for " << key;
    EXPECT_TRUE(golden::AllClose(key, got, fixture->Values("conv_bn." + key), rtol));
  }
}

}  // namespace
}  // namespace kiln
