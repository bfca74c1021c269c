// AppendGradients: the shape of the backward graph (which rule produced which node), zero
// gradients for what the loss does not depend on, accumulation over several uses, the ops that
// stop gradients, and located errors. Values are checked by running the graphs (GraphRunner).
#include "passes/autodiff.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "ir/printer.h"
#include "support/source_location.h"
#include "tools/graph_runner.h"

namespace kiln::passes {
namespace {

using ir::DType;
using ir::Graph;
using ir::GraphBuilder;
using ir::Node;
using ir::NodeId;
using ir::TensorType;

TensorType F32(ir::Shape shape) { return TensorType{DType::kF32, std::move(shape)}; }
ir::Attrs ZeroInit() { return {{"init", std::string("constant")}, {"value", 0.0}}; }

std::vector<NodeId> Gradients(Graph& graph, NodeId loss, const std::vector<NodeId>& wrt) {
  absl::StatusOr<std::vector<NodeId>> grads = AppendGradients(graph, loss, wrt);
  EXPECT_TRUE(grads.ok()) << grads.status();
  if (!grads.ok()) return std::vector<NodeId>(wrt.size(), ir::kNoNode);
  EXPECT_EQ(grads->size(), wrt.size());
  return *std::move(grads);
}

// Compiles `graph` with `outputs`, feeds `inputs` and returns the value of each output.
std::vector<std::vector<double>> Evaluate(
    Graph graph, const std::vector<std::pair<std::string, NodeId>>& outputs,
    const std::vector<std::pair<std::string, std::vector<double>>>& inputs) {
  graph.outputs = outputs;
  auto runner = tools::GraphRunner::Compile(std::move(graph));
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return {};
  for (const auto& [name, values] : inputs) {
    absl::Status set = (*runner)->Set(name, values);
    EXPECT_TRUE(set.ok()) << set;
  }
  EXPECT_TRUE((*runner)->Run().ok());
  std::vector<std::vector<double>> results;
  for (const auto& [name, id] : outputs) {
    absl::StatusOr<std::vector<double>> values = (*runner)->Read(name);
    EXPECT_TRUE(values.ok()) << values.status();
    results.push_back(values.ok() ? *values : std::vector<double>{});
  }
  return results;
}

bool IsZeroConstant(const Node& node) {
  return node.op == "constant" && node.attrs.GetFloat("value", 1.0) == 0.0;
}

// loss = sum(relu(x @ w + b)): the textbook shapes of the MLP gradients.
TEST(AutodiffTest, MlpGradientsHaveTheExpectedStructure) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({4, 3}));
  NodeId w = b.Parameter("w", F32({3, 2}), ZeroInit());
  NodeId bias = b.Parameter("b", F32({2}), ZeroInit());
  NodeId h = b.Relu(b.Add(b.MatMul(x, w), bias));
  NodeId loss = b.ReduceSum(h, {0, 1});
  ASSERT_TRUE(b.status().ok()) << b.status();

  std::vector<NodeId> grads = Gradients(graph, loss, {w, bias});
  // dW = x^T dz, read through the GEMM's transpose flag rather than a transpose node.
  const Node& dw = graph.node(grads[0]);
  ASSERT_EQ(dw.op, "matmul") << ir::PrintGraph(graph);
  EXPECT_EQ(dw.operands[0], x);
  EXPECT_EQ(dw.attrs.GetInt("transpose_a"), 1);
  EXPECT_EQ(dw.attrs.GetInt("transpose_b"), 0);
  // dz is relu's mask applied to the broadcast loss gradient: select(0 >= y, 0, g) on y = relu
  // (zero where y <= 0, so a NaN y passes the gradient on, as in PyTorch).
  const Node& dz = graph.node(dw.operands[1]);
  ASSERT_EQ(dz.op, "select") << ir::PrintGraph(graph);
  const Node& mask = graph.node(dz.operands[0]);
  EXPECT_EQ(mask.op, "greater_equal");
  EXPECT_EQ(mask.operands[1], h);
  EXPECT_EQ(graph.node(dz.operands[2]).op, "broadcast_to");
  EXPECT_EQ(dz.type.shape, (ir::Shape{4, 2}));
  // db = dz summed over the batch: the same dz feeds both parameter gradients.
  const Node& db = graph.node(grads[1]);
  ASSERT_EQ(db.op, "reduce_sum") << ir::PrintGraph(graph);
  EXPECT_EQ(db.operands[0], dw.operands[1]);
  EXPECT_EQ(db.attrs.GetInts("dims"), std::vector<int64_t>{0});
  EXPECT_EQ(db.type.shape, ir::Shape{2});
}

// im2col's gradient with the channel innermost in the patches: col2im into [N,H,W,C] (runs of
// channels read and written), viewed back as NCHW by a transpose; channel-major patches keep the
// NCHW col2im.
TEST(AutodiffTest, Im2ColGradientIsAChannelsLastCol2Im) {
  for (int64_t channel_major : {0, 1}) {
    Graph graph;
    GraphBuilder b(graph);
    NodeId x = b.Input("x", F32({2, 3, 5, 5}));
    NodeId patches = b.Op("im2col", {x},
                          {{"kernel", int64_t{3}}, {"padding", int64_t{1}},
                           {"channel_major", channel_major}});
    NodeId loss = b.ReduceSum(patches, {0, 1, 2, 3, 4, 5});
    ASSERT_TRUE(b.status().ok()) << b.status();
    std::vector<NodeId> grads = Gradients(graph, loss, {x});
    const Node& dx = graph.node(grads[0]);
    EXPECT_EQ(dx.type.shape, (ir::Shape{2, 3, 5, 5}));
    if (channel_major != 0) {
      EXPECT_EQ(dx.op, "col2im") << ir::PrintGraph(graph);
      continue;
    }
    ASSERT_EQ(dx.op, "transpose") << ir::PrintGraph(graph);
    EXPECT_EQ(dx.attrs.GetInts("perm"), (std::vector<int64_t>{0, 3, 1, 2}));
    const Node& col2im = graph.node(dx.operands[0]);
    ASSERT_EQ(col2im.op, "col2im");
    EXPECT_EQ(col2im.attrs.GetInt("channels_last"), 1);
    EXPECT_EQ(col2im.type.shape, (ir::Shape{2, 5, 5, 3}));
  }
}

TEST(AutodiffTest, MlpGradientValues) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Input("x", F32({2, 2}));
  NodeId w = b.Parameter("w", F32({2, 2}), ZeroInit());
  NodeId bias = b.Parameter("b", F32({2}), ZeroInit());
  NodeId loss = b.ReduceSum(b.Relu(b.Add(b.MatMul(x, w), bias)), {0, 1});
  std::vector<NodeId> grads = Gradients(graph, loss, {w, bias});
  // z = x w + b = [[1*1+2*-1+0.5, 1*2+2*1-3], [3*1+4*-1+0.5, 3*2+4*1-3]] = [[-0.5, 1], [-0.5, 7]]:
  // only column 1 is active, so dW[:,1] = x^T 1 = [4, 6], dW[:,0] = 0, db = [0, 2].
  auto values = Evaluate(std::move(graph), {{"dw", grads[0]}, {"db", grads[1]}},
                         {{"x", {1, 2, 3, 4}}, {"w", {1, 2, -1, 1}}, {"b", {0.5, -3}}});
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0], (std::vector<double>{0, 4, 0, 6}));
  EXPECT_EQ(values[1], (std::vector<double>{0, 2}));
}

TEST(AutodiffTest, NodesTheLossDoesNotDependOnGetZeroConstants) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId w = b.Parameter("w", F32({3}), ZeroInit());
  NodeId unused = b.Parameter("unused", F32({2, 5}), ZeroInit());
  NodeId blocked = b.Parameter("blocked", F32({3}), ZeroInit());
  // `blocked` reaches the loss only through stop_gradient.
  NodeId loss = b.ReduceSum(b.Mul(w, b.Op("stop_gradient", {blocked})), {0});
  std::vector<NodeId> grads = Gradients(graph, loss, {w, unused, blocked});
  EXPECT_EQ(graph.node(grads[0]).op, "mul");
  for (int i : {1, 2}) {
    const Node& zero = graph.node(grads[i]);
    EXPECT_TRUE(IsZeroConstant(zero)) << ir::PrintNode(graph, grads[i]);
    EXPECT_EQ(zero.type, graph.node(i == 1 ? unused : blocked).type);
  }
}

TEST(AutodiffTest, GradientsOfAValueUsedTwiceAreSummed) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Parameter("x", F32({4}), ZeroInit());
  // loss = sum(x*x + exp(x)): x reaches the loss three times.
  NodeId loss = b.ReduceSum(b.Add(b.Mul(x, x), b.Exp(x)), {0});
  std::vector<NodeId> grads = Gradients(graph, loss, {x});
  EXPECT_EQ(graph.node(grads[0]).op, "add") << ir::PrintGraph(graph);
  std::vector<double> xs = {-1, 0, 0.5, 2};
  auto values = Evaluate(std::move(graph), {{"dx", grads[0]}}, {{"x", xs}});
  ASSERT_EQ(values.size(), 1u);
  ASSERT_EQ(values[0].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(values[0][i], 2 * xs[i] + std::exp(xs[i]), 1e-5) << i;
  }
}

TEST(AutodiffTest, StopGradientCutsOnlyItsOwnPath) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Parameter("x", F32({3}), ZeroInit());
  // d/dx sum(stop_gradient(x) * x) = x, not 2x.
  NodeId loss = b.ReduceSum(b.Mul(b.Op("stop_gradient", {x}), x), {0});
  std::vector<NodeId> grads = Gradients(graph, loss, {x});
  auto values = Evaluate(std::move(graph), {{"dx", grads[0]}}, {{"x", {1, -2, 3}}});
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0], (std::vector<double>{1, -2, 3}));
}

TEST(AutodiffTest, ArgmaxAndIntegerInputsStopGradients) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Parameter("x", F32({2, 3}), ZeroInit());
  NodeId labels = b.Input("labels", TensorType{DType::kI64, {2}});
  // loss = sum_i (argmax(x_i) + labels_i) * sum_j x_ij: argmax and the labels act as constants.
  NodeId index = b.Cast(b.ArgMax(x, 1), DType::kF32);
  NodeId scale = b.Add(index, b.Cast(labels, DType::kF32));
  NodeId loss = b.ReduceSum(b.Mul(scale, b.ReduceSum(x, {1})), {0});
  ASSERT_TRUE(b.status().ok()) << b.status();
  std::vector<NodeId> grads = Gradients(graph, loss, {x, labels});
  const Node& dlabels = graph.node(grads[1]);
  EXPECT_TRUE(IsZeroConstant(dlabels)) << ir::PrintNode(graph, grads[1]);
  EXPECT_EQ(dlabels.type.dtype, DType::kI64);
  auto values = Evaluate(std::move(graph), {{"dx", grads[0]}},
                         {{"x", {0, 5, 1, 9, 2, 3}}, {"labels", {2, 7}}});
  ASSERT_EQ(values.size(), 1u);
  // Row 0: argmax 1 + label 2 = 3; row 1: argmax 0 + label 7 = 7.
  EXPECT_EQ(values[0], (std::vector<double>{3, 3, 3, 7, 7, 7}));
}

// Gradient rules build nodes while holding the shapes of their operands; those must not be
// references into the graph's node storage, which moves when it grows. Padding the graph with
// 0..40 nodes makes the storage reallocate at every point of the backward construction once.
TEST(AutodiffTest, BroadcastGradientShapesSurviveGraphGrowth) {
  for (int padding = 0; padding <= 40; ++padding) {
    SCOPED_TRACE(absl::StrCat("padding ", padding));
    Graph graph;
    GraphBuilder b(graph);
    for (int i = 0; i < padding; ++i) b.Scalar(i);
    NodeId x = b.Parameter("x", F32({3, 4}), ZeroInit());
    NodeId y = b.Parameter("y", F32({4}), ZeroInit());
    NodeId z = b.Parameter("z", F32({3, 1}), ZeroInit());
    NodeId loss = b.ReduceSum(b.Sub(b.Mul(x, y), b.BroadcastTo(z, {3, 4})), {0, 1});
    ASSERT_TRUE(b.status().ok()) << b.status();
    absl::StatusOr<std::vector<NodeId>> grads = AppendGradients(graph, loss, {x, y, z});
    ASSERT_TRUE(grads.ok()) << grads.status();
    for (int i = 0; i < 3; ++i) {
      NodeId param = std::vector<NodeId>{x, y, z}[i];
      EXPECT_EQ(graph.node((*grads)[i]).type, graph.node(param).type)
          << graph.node(param).name << "\n" << ir::PrintGraph(graph);
    }
  }
}

TEST(AutodiffTest, NonScalarLossIsALocatedError) {
  Graph graph;
  GraphBuilder b(graph);
  auto file = std::make_shared<SourceFile>(SourceFile{"model.kiln", "model m {\n  loss = relu(x)\n}\n"});
  NodeId x = b.Parameter("x", F32({3}), ZeroInit());
  b.set_loc(SourceLoc{file, 2, 10});
  NodeId loss = b.Relu(x);
  absl::StatusOr<std::vector<NodeId>> grads = AppendGradients(graph, loss, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_EQ(grads.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(grads.status().message(),
                                "model.kiln:2:10: error: the loss must be a scalar, got f32[3]"))
      << grads.status();
  EXPECT_TRUE(absl::StrContains(grads.status().message(), "  loss = relu(x)")) << grads.status();
}

TEST(AutodiffTest, UnexpandedCompositeIsALocatedError) {
  Graph graph;
  GraphBuilder b(graph);
  auto file = std::make_shared<SourceFile>(SourceFile{"m.kiln", "a\nb\nc\n"});
  NodeId x = b.Parameter("x", F32({2, 3}), ZeroInit());
  b.set_loc(SourceLoc{file, 3, 1});
  NodeId soft = b.Op("softmax", {x}, {{"dim", int64_t{1}}});
  NodeId loss = b.ReduceSum(soft, {0, 1});
  absl::StatusOr<std::vector<NodeId>> grads = AppendGradients(graph, loss, {x});
  ASSERT_FALSE(grads.ok());
  EXPECT_TRUE(absl::StrContains(grads.status().message(),
                                "m.kiln:3:1: error: op 'softmax' has no gradient rule"))
      << grads.status();
}

// A rule must return one gradient (or none) per operand, each of its operand's type.
TEST(AutodiffTest, GradientRuleResultsAreChecked) {
  Graph graph;
  GraphBuilder b(graph);
  NodeId x = b.Parameter("x", F32({2, 3}), ZeroInit());
  NodeId y = b.Parameter("y", F32({3}), ZeroInit());
  NodeId sum = b.Add(x, y);
  NodeId row = b.ReduceSum(x, {0});
  const Node node = graph.node(sum);
  std::vector<std::optional<NodeId>> one = {x};
  std::vector<std::optional<NodeId>> swapped = {y, x};
  std::vector<std::optional<NodeId>> fine = {x, row};
  std::vector<std::optional<NodeId>> partly = {std::nullopt, row};
  absl::Status too_few = CheckGradientRule(graph, node, one);
  EXPECT_TRUE(absl::StrContains(too_few.message(),
                                "the gradient rule of 'add' returned 1 gradients for 2 operands"))
      << too_few;
  absl::Status wrong_type = CheckGradientRule(graph, node, swapped);
  EXPECT_TRUE(absl::StrContains(wrong_type.message(),
                                "returned f32[3] for operand 0 of type f32[2,3]"))
      << wrong_type;
  EXPECT_TRUE(CheckGradientRule(graph, node, fine).ok());
  EXPECT_TRUE(CheckGradientRule(graph, node, partly).ok());
}

}  // namespace
}  // namespace kiln::passes
