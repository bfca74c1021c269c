#include <gtest/gtest.h>

#include <cmath>

#include "frontend/frontend.h"
#include "lower_test_util.h"

namespace kiln::frontend {
namespace {

using testing::Lower;
using testing::LowerError;
using testing::NodeNamed;
using testing::Parameters;

ir::Graph LowerFile(const std::string& path, int64_t batch) {
  auto ast = ParseModelFile(path);
  EXPECT_TRUE(ast.ok()) << ast.status();
  if (!ast.ok()) return {};
  auto graph = LowerModel(*ast, {{"B", batch}});
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : ir::Graph{};
}

ir::Graph LowerOk(const std::string& text) {
  auto graph = Lower(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : ir::Graph{};
}

std::vector<std::string> Ops(const ir::Graph& graph) {
  std::vector<std::string> ops;
  for (const ir::Node& node : graph.nodes()) ops.push_back(node.op);
  return ops;
}

constexpr char kHeader[] =
    "model m {\n"
    "  input x: f32[B, 784]\n"
    "  input y: i64[B]\n";

TEST(LowerModelTest, FashionMlp) {
  ir::Graph graph = LowerFile("examples/fashion_mlp.kiln", 64);
  EXPECT_EQ(graph.name, "fashion_mlp");
  EXPECT_EQ(Parameters(graph),
            (std::vector<std::string>{"fc1.weight:f32[784,256]", "fc1.bias:f32[256]",
                                      "fc2.weight:f32[256,128]", "fc2.bias:f32[128]",
                                      "out.weight:f32[128,10]", "out.bias:f32[10]"}));
  // 2 inputs, 6 parameters, 3 linear, 2 relu, log_softmax, nll_loss.
  EXPECT_EQ(graph.size(), 15);
  EXPECT_EQ(NodeNamed(graph, "x").type.ToString(), "f32[64,784]");
  EXPECT_EQ(NodeNamed(graph, "y").type.ToString(), "i64[64]");
  EXPECT_EQ(NodeNamed(graph, "fc1").op, "linear");
  EXPECT_EQ(NodeNamed(graph, "fc1").type.ToString(), "f32[64,256]");
  EXPECT_EQ(NodeNamed(graph, "h2").op, "relu");
  EXPECT_EQ(NodeNamed(graph, "fc2").type.ToString(), "f32[64,128]");
  EXPECT_EQ(NodeNamed(graph, "logp").op, "log_softmax");
  EXPECT_EQ(NodeNamed(graph, "logp").attrs.GetInt("dim"), 1);
  ASSERT_EQ(graph.outputs.size(), 1u);
  EXPECT_EQ(graph.outputs[0].first, "loss");
  const ir::Node& loss = graph.node(graph.Output("loss"));
  EXPECT_EQ(loss.op, "nll_loss");
  EXPECT_EQ(loss.name, "loss");
  EXPECT_EQ(loss.type.ToString(), "f32[]");
  EXPECT_EQ(loss.attrs.GetString("reduction"), "mean");
  EXPECT_EQ(loss.loc.ToString(), "examples/fashion_mlp.kiln:13:10");
}

TEST(LowerModelTest, LinearDefaultInitIsPyTorchs) {
  ir::Graph graph = LowerFile("examples/fashion_mlp.kiln", 64);
  const ir::Node& w = NodeNamed(graph, "fc1.weight");
  EXPECT_EQ(w.attrs.GetString("init"), "uniform");
  EXPECT_DOUBLE_EQ(w.attrs.GetFloat("low"), -1.0 / 28.0);
  EXPECT_DOUBLE_EQ(w.attrs.GetFloat("high"), 1.0 / 28.0);
  const ir::Node& b = NodeNamed(graph, "fc2.bias");
  EXPECT_DOUBLE_EQ(b.attrs.GetFloat("high"), 1.0 / 16.0);
}

TEST(LowerModelTest, BatchDimIsBoundAtLowering) {
  ir::Graph graph = LowerFile("examples/fashion_mlp.kiln", 32);
  EXPECT_EQ(NodeNamed(graph, "x").type.ToString(), "f32[32,784]");
  EXPECT_EQ(NodeNamed(graph, "h1").type.ToString(), "f32[32,256]");
}

TEST(LowerModelTest, DropoutExample) {
  ir::Graph graph = LowerFile("examples/fashion_mlp_dropout.kiln", 64);
  int dropouts = 0;
  for (const ir::Node& node : graph.nodes()) {
    if (node.op != "dropout") continue;
    ++dropouts;
    EXPECT_DOUBLE_EQ(node.attrs.GetFloat("p"), 0.25);
  }
  EXPECT_EQ(dropouts, 2);
  EXPECT_EQ(NodeNamed(graph, "h1").op, "dropout");
}

// The functional example declares the same parameters as the layer one, by hand.
TEST(LowerModelTest, FunctionalExampleMatchesLayers) {
  ir::Graph layers = LowerFile("examples/fashion_mlp.kiln", 64);
  ir::Graph functional = LowerFile("examples/fashion_mlp_functional.kiln", 64);
  EXPECT_EQ(Parameters(functional), Parameters(layers));
  for (const ir::Node& p : layers.nodes()) {
    if (p.op != "parameter") continue;
    const ir::Node& q = NodeNamed(functional, p.name);
    EXPECT_EQ(q.attrs.GetString("init"), "uniform") << p.name;
    EXPECT_NEAR(q.attrs.GetFloat("low"), p.attrs.GetFloat("low"), 1e-12) << p.name;
    EXPECT_NEAR(q.attrs.GetFloat("high"), p.attrs.GetFloat("high"), 1e-12) << p.name;
  }
  EXPECT_EQ(NodeNamed(functional, "logits").op, "linear");
  EXPECT_EQ(NodeNamed(functional, "logits").operands.size(), 3u);
  EXPECT_EQ(functional.node(functional.Output("loss")).op, "cross_entropy");
}

TEST(LowerModelTest, BlocksPrefixParameterNames) {
  ir::Graph graph = LowerOk(
      "block mlp_layer(x, n) {\n"
      "  h = linear(x, n, name=fc)\n"
      "  return relu(h)\n"
      "}\n"
      "block pair(x, n) {\n"
      "  a = mlp_layer(x, n * 2)\n"
      "  return mlp_layer(a, n)\n"
      "}\n"
      "model m {\n"
      "  input x: f32[B, 784]\n"
      "  input y: i64[B]\n"
      "  l1 = mlp_layer(x, 256)\n"
      "  p = pair(l1, 32)\n"
      "  h = relu(mlp_layer(p, 16))\n"
      "  loss = cross_entropy(linear(h, 10), y)\n"
      "}\n");
  EXPECT_EQ(Parameters(graph),
            (std::vector<std::string>{
                "l1.fc.weight:f32[784,256]", "l1.fc.bias:f32[256]",
                "p.a.fc.weight:f32[256,64]", "p.a.fc.bias:f32[64]",
                "p.mlp_layer1.fc.weight:f32[64,32]", "p.mlp_layer1.fc.bias:f32[32]",
                "mlp_layer1.fc.weight:f32[32,16]", "mlp_layer1.fc.bias:f32[16]",
                "linear1.weight:f32[16,10]", "linear1.bias:f32[10]"}));
  EXPECT_EQ(NodeNamed(graph, "l1.fc").op, "linear");
  EXPECT_EQ(NodeNamed(graph, "l1").op, "relu");   // The block's result, named by the binding.
  EXPECT_EQ(NodeNamed(graph, "p.a").op, "relu");
  EXPECT_EQ(NodeNamed(graph, "p").op, "relu");
}

TEST(LowerModelTest, ExplicitNameOverridesBinding) {
  ir::Graph graph = LowerOk(std::string(kHeader) +
                            "  h = linear(x, 10, name=head)\n"
                            "  loss = nll_loss(log_softmax(h), y)\n"
                            "}\n");
  EXPECT_EQ(Parameters(graph), (std::vector<std::string>{"head.weight:f32[784,10]",
                                                         "head.bias:f32[10]"}));
  EXPECT_EQ(NodeNamed(graph, "head").op, "linear");
}

TEST(LowerModelTest, GeneratedNamesAreDeterministic) {
  ir::Graph graph = LowerOk(std::string(kHeader) +
                            "  h = relu(linear(linear(x, 20), 10))\n"
                            "  loss = cross_entropy(h, y)\n"
                            "}\n");
  EXPECT_EQ(Parameters(graph),
            (std::vector<std::string>{"linear1.weight:f32[784,20]", "linear1.bias:f32[20]",
                                      "linear2.weight:f32[20,10]", "linear2.bias:f32[10]"}));
}

TEST(LowerModelTest, ParamsInBlocksUseBlockArguments) {
  ir::Graph graph = LowerOk(
      "block scale(x, n) {\n"
      "  param g: f32[n] = ones\n"
      "  return x * g\n"
      "}\n"
      "model m {\n"
      "  input x: f32[B, 10]\n"
      "  input y: i64[B]\n"
      "  s = scale(x, 10)\n"
      "  loss = cross_entropy(s, y)\n"
      "}\n");
  EXPECT_EQ(Parameters(graph), (std::vector<std::string>{"s.g:f32[10]"}));
  EXPECT_EQ(NodeNamed(graph, "s.g").attrs.GetString("init"), "constant");
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "s.g").attrs.GetFloat("value"), 1.0);
  EXPECT_EQ(NodeNamed(graph, "s").op, "mul");
}

TEST(LowerModelTest, InfixOperatorsAndScalars) {
  ir::Graph graph = LowerOk(
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  input y: i64[B]\n"
      "  a = x * 0.5 + 1/4\n"
      "  b = -a / x ** 2\n"
      "  loss = reduce_mean(b - a)\n"
      "}\n");
  EXPECT_EQ(Ops(graph), (std::vector<std::string>{"input", "input", "constant", "mul", "constant",
                                                  "add", "neg", "constant", "pow", "div", "sub",
                                                  "reduce_mean"}));
  EXPECT_DOUBLE_EQ(graph.node(2).attrs.GetFloat("value"), 0.5);
  EXPECT_DOUBLE_EQ(graph.node(4).attrs.GetFloat("value"), 0.25);  // 1/4 folded, not 0.
  EXPECT_EQ(graph.node(2).type.ToString(), "f32[]");
  EXPECT_EQ(NodeNamed(graph, "a").op, "add");
  EXPECT_EQ(NodeNamed(graph, "b").op, "div");
  EXPECT_EQ(NodeNamed(graph, "loss").attrs.GetInts("dims"), (std::vector<int64_t>{0, 1}));
}

TEST(LowerModelTest, PlainOps) {
  ir::Graph graph = LowerOk(
      "model m {\n"
      "  input x: f32[B, 1, 28, 28]\n"
      "  input y: i64[B]\n"
      "  param w: f32[784, 10] = normal(0, 0.01)\n"
      "  f = flatten(x)\n"
      "  r = reshape(x, [B, -1])\n"
      "  z = matmul(f, w) + matmul(r, w)\n"
      "  t = transpose(z)\n"
      "  s = softmax(z, dim=-1)\n"
      "  m = reduce_max(s, dims=1, keepdim=true)\n"
      "  loss = nll_loss(log_softmax(z - m, 1), y, reduction=sum)\n"
      "}\n");
  EXPECT_EQ(NodeNamed(graph, "f").type.ToString(), "f32[64,784]");
  EXPECT_EQ(NodeNamed(graph, "r").type.ToString(), "f32[64,784]");
  EXPECT_EQ(NodeNamed(graph, "t").type.ToString(), "f32[10,64]");
  EXPECT_EQ(NodeNamed(graph, "t").attrs.GetInts("perm"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(NodeNamed(graph, "m").type.ToString(), "f32[64,1]");
  EXPECT_EQ(NodeNamed(graph, "w").attrs.GetString("init"), "normal");
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "w").attrs.GetFloat("std"), 0.01);
  EXPECT_EQ(NodeNamed(graph, "loss").attrs.GetString("reduction"), "sum");
}

// torch.sum/mean/amax/amin-style aliases, argmax over any dim, and the losses' arguments.
TEST(LowerModelTest, TorchStyleReductionsAndLosses) {
  ir::Graph graph = LowerOk(
      "model m {\n"
      "  input x: f32[B, 4, 5]\n"
      "  input y: f32[B, 4, 5]\n"
      "  s = sum(x, 1, true)\n"
      "  a = mean(x, [0, 2])\n"
      "  hi = max(x, dim=-1)\n"
      "  lo = min(x)\n"
      "  i = argmax(x, 1, keepdim=true)\n"
      "  l1 = smooth_l1_loss(x, y, beta=0.5)\n"
      "  l2 = binary_cross_entropy_with_logits(x, y, pos_weight=sum(y, 0), reduction=none)\n"
      "  loss = l1 + mse_loss(x, y, reduction=sum) + l1_loss(x, y) + sum(l2)\n"
      "}\n");
  EXPECT_EQ(NodeNamed(graph, "s").op, "reduce_sum");
  EXPECT_EQ(NodeNamed(graph, "s").type.ToString(), "f32[64,1,5]");
  EXPECT_EQ(NodeNamed(graph, "a").op, "reduce_mean");
  EXPECT_EQ(NodeNamed(graph, "a").type.ToString(), "f32[4]");
  EXPECT_EQ(NodeNamed(graph, "hi").op, "reduce_max");
  EXPECT_EQ(NodeNamed(graph, "hi").type.ToString(), "f32[64,4]");
  EXPECT_EQ(NodeNamed(graph, "lo").type.ToString(), "f32[]");
  EXPECT_EQ(NodeNamed(graph, "i").type.ToString(), "i64[64,1,5]");
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "l1").attrs.GetFloat("beta"), 0.5);
  EXPECT_EQ(NodeNamed(graph, "l2").type.ToString(), "f32[64,4,5]");
  EXPECT_EQ(NodeNamed(graph, "l2").operands.size(), 3u);
}

TEST(LowerModelTest, CrossEntropyTakesProbabilitiesAndLabelSmoothing) {
  ir::Graph graph = LowerOk(
      "model m {\n"
      "  input x: f32[B, 10]\n"
      "  input y: f32[B, 3]\n"
      "  loss = cross_entropy(linear(x, 3), y, label_smoothing=0.1)\n"
      "}\n");
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "loss").attrs.GetFloat("label_smoothing"), 0.1);
  EXPECT_EQ(NodeNamed(graph, "loss").type.ToString(), "f32[]");
}

TEST(LowerModelTest, LinearOptions) {
  ir::Graph graph = LowerOk(std::string(kHeader) +
                            "  a = linear(x, 256, init=kaiming_normal(nonlinearity=relu))\n"
                            "  b = linear(a, 128, init=xavier_uniform, bias_init=zeros)\n"
                            "  c = linear(b, 10, bias=false, init=constant(0.1))\n"
                            "  loss = cross_entropy(c, y)\n"
                            "}\n");
  EXPECT_EQ(NodeNamed(graph, "a.weight").attrs.GetString("init"), "normal");
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "a.weight").attrs.GetFloat("std"),
                   std::sqrt(2.0) / std::sqrt(784.0));
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "b.weight").attrs.GetFloat("high"),
                   std::sqrt(6.0 / (256 + 128)));
  EXPECT_EQ(NodeNamed(graph, "b.bias").attrs.GetString("init"), "constant");
  EXPECT_EQ(graph.FindByName("c.bias"), ir::kNoNode);
  EXPECT_EQ(NodeNamed(graph, "c").operands.size(), 2u);
  EXPECT_DOUBLE_EQ(NodeNamed(graph, "c.weight").attrs.GetFloat("value"), 0.1);
}

TEST(LowerModelTest, RebindingKeepsNodeNamesUnique) {
  ir::Graph graph = LowerOk(std::string(kHeader) +
                            "  h = relu(x)\n"
                            "  h = relu(h)\n"
                            "  loss = cross_entropy(linear(h, 10), y)\n"
                            "}\n");
  EXPECT_NE(graph.FindByName("h"), ir::kNoNode);
  EXPECT_NE(graph.FindByName("h_2"), ir::kNoNode);
  EXPECT_EQ(NodeNamed(graph, "h_2").operands[0], graph.FindByName("h"));
}

TEST(LowerModelTest, EveryNodeHasALocation) {
  ir::Graph graph = LowerFile("examples/fashion_mlp.kiln", 64);
  for (const ir::Node& node : graph.nodes()) {
    EXPECT_TRUE(node.loc.known()) << node.op << " " << node.name;
  }
  EXPECT_EQ(NodeNamed(graph, "fc2").loc.ToString(), "examples/fashion_mlp.kiln:11:13");
  EXPECT_EQ(NodeNamed(graph, "fc2.weight").loc.ToString(), "examples/fashion_mlp.kiln:11:13");
}

}  // namespace
}  // namespace kiln::frontend
