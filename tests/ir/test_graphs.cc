#include "tests/ir/test_graphs.h"

#include <gtest/gtest.h>

#include <bit>
#include <memory>

#include "ir/graph_builder.h"
#include "ir/printer.h"

namespace kiln::ir::testing {
namespace {

constexpr DType kF32 = DType::kF32;
constexpr DType kI64 = DType::kI64;

constexpr char kMlpSource[] =
    "model fashion_mlp {\n"
    "  input x: f32[64, 784]\n"
    "  input y: i64[64]\n"
    "  fc1 = linear(x, 784, 256)\n"
    "  h = relu(fc1)\n"
    "  fc2 = linear(h, 256, 10)\n"
    "  loss = nll_loss(log_softmax(fc2, dim=1), y)\n"
    "}\n";

Attrs Uniform(double bound) {
  return {{"init", std::string("uniform")}, {"low", -bound}, {"high", bound}};
}

Attrs Zeros() { return {{"init", std::string("constant")}, {"value", 0.0}}; }

bool SameAttrValue(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<double>(&a)) {
    return std::bit_cast<uint64_t>(*x) == std::bit_cast<uint64_t>(std::get<double>(b));
  }
  return a == b;
}

std::string LocString(const SourceLoc& loc) { return loc.known() ? loc.ToString() : "<unknown>"; }

}  // namespace

Graph BuildMlp() {
  Graph graph;
  graph.name = "fashion_mlp";
  GraphBuilder b(graph);
  auto file = std::make_shared<const SourceFile>(SourceFile{"fashion_mlp.kiln", kMlpSource});
  b.set_loc({file, 2, 9});
  NodeId x = b.Input("x", {kF32, {64, 784}});
  b.set_loc({file, 3, 9});
  NodeId y = b.Input("y", {kI64, {64}});
  b.set_loc({file, 4, 3});
  NodeId w1 = b.Parameter("fc1.weight", {kF32, {784, 256}}, Uniform(0.0357));
  NodeId b1 = b.Parameter("fc1.bias", {kF32, {256}}, Zeros());
  b.set_loc({file, 4, 9});
  NodeId fc1 = b.Op("linear", {x, w1, b1}, {}, "fc1");
  b.set_loc({file, 5, 7});
  NodeId h = b.Op("relu", {fc1}, {}, "h");
  b.set_loc({file, 6, 3});
  NodeId w2 = b.Parameter("fc2.weight", {kF32, {256, 10}}, Uniform(0.0625));
  NodeId b2 = b.Parameter("fc2.bias", {kF32, {10}}, Zeros());
  b.set_loc({file, 6, 9});
  NodeId fc2 = b.Op("linear", {h, w2, b2}, {}, "fc2");
  b.set_loc({file, 7, 20});
  NodeId logp = b.Op("log_softmax", {fc2}, {{"dim", int64_t{1}}});
  b.set_loc({file, 7, 10});
  NodeId loss = b.Op("nll_loss", {logp, y}, {{"reduction", std::string("mean")}}, "loss");
  // The training step's bookkeeping has no model source.
  b.set_loc(SourceLoc{});
  NodeId step = b.State("step", {kF32, {}}, 0.0);
  NodeId one = b.Scalar(1.0);
  NodeId next_step = b.Add(step, one);
  NodeId new_bias = b.Mul(b2, one);
  EXPECT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"loss", loss}};
  graph.updates = {{step, next_step}, {b2, new_bias}};
  return graph;
}

Graph BuildPrimitives() {
  Graph graph;
  graph.name = "primitives";
  GraphBuilder b(graph);
  NodeId a = b.Input("a", {kF32, {4, 3}});
  NodeId c = b.Input("b", {kF32, {5, 3}});
  NodeId ab = b.MatMul(a, c, /*transpose_a=*/false, /*transpose_b=*/true);
  NodeId row_sums = b.ReduceSum(ab, {1}, /*keepdim=*/true);
  NodeId abt = b.Transpose(ab, {1, 0});
  b.BroadcastTo(row_sums, {2, 4, 5});
  NodeId columns = b.Cast(b.Iota({4, 5}, 1), kF32);
  NodeId mask = b.Greater(columns, ab);
  NodeId selected = b.Select(mask, ab, columns);
  NodeId key = b.Input("kiln.rng", {kI64, {}});
  NodeId noise = b.Op("random_uniform", {key}, {{"shape", Shape{4, 5}}, {"salt", int64_t{3}}});
  NodeId flat = b.Reshape(selected, {-1});
  b.ReduceMax(abt, {0});
  b.ArgMax(abt, 0);
  b.Constant(1e-8, {kF32, {4, 5}});
  EXPECT_TRUE(b.status().ok()) << b.status();
  graph.outputs = {{"sum.rows", row_sums}, {"noise", noise}, {"flat out", flat}};
  return graph;
}

void ExpectSameGraph(const Graph& actual, const Graph& expected) {
  EXPECT_EQ(actual.name, expected.name);
  ASSERT_EQ(actual.size(), expected.size());
  for (NodeId id = 0; id < expected.size(); ++id) {
    const Node& a = actual.node(id);
    const Node& e = expected.node(id);
    SCOPED_TRACE(PrintNode(expected, id));
    EXPECT_EQ(a.id, e.id);
    EXPECT_EQ(a.op.name(), e.op.name());
    EXPECT_EQ(a.operands, e.operands);
    EXPECT_EQ(a.type, e.type);
    EXPECT_EQ(a.name, e.name);
    EXPECT_EQ(LocString(a.loc), LocString(e.loc));
    ASSERT_EQ(a.attrs.values().size(), e.attrs.values().size());
    for (const auto& [key, value] : e.attrs.values()) {
      auto it = a.attrs.values().find(key);
      ASSERT_NE(it, a.attrs.values().end()) << key;
      EXPECT_TRUE(SameAttrValue(it->second, value)) << key;
    }
  }
  EXPECT_EQ(actual.outputs, expected.outputs);
  ASSERT_EQ(actual.updates.size(), expected.updates.size());
  for (size_t i = 0; i < expected.updates.size(); ++i) {
    EXPECT_EQ(actual.updates[i].target, expected.updates[i].target);
    EXPECT_EQ(actual.updates[i].value, expected.updates[i].value);
  }
}

}  // namespace kiln::ir::testing
