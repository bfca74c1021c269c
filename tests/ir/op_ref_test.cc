// A node's op is resolved to its record when assigned, and again whenever it is reassigned.
#include <gtest/gtest.h>

#include "ir/graph.h"
#include "ir/op_registry.h"

namespace kiln::ir {
namespace {

TEST(OpRefTest, ResolvesTheRecordWhenAssigned) {
  Node node;
  node.op = "relu";
  ASSERT_NE(node.op.def(), nullptr);
  EXPECT_EQ(node.op.def(), OpRegistry::Global().Find("relu"));
  EXPECT_EQ(&OpOf(node), node.op.def());
  EXPECT_EQ(node.op, "relu");
  EXPECT_EQ(node.op.name(), "relu");
}

TEST(OpRefTest, ReassigningResolvesAgain) {
  Node node;
  node.op = "relu";
  node.op = std::string("exp");
  EXPECT_EQ(node.op.def(), OpRegistry::Global().Find("exp"));
  EXPECT_EQ(OpOf(node).name, "exp");
}

TEST(OpRefTest, UnknownNameResolvesToNullForTheVerifier) {
  Node node;
  node.op = "relu2";
  EXPECT_EQ(node.op.def(), nullptr);
  EXPECT_EQ(node.op.name(), "relu2");
  EXPECT_EQ(Node().op.def(), nullptr);  // Unassigned.
}

TEST(OpRefTest, GraphsKeepTheResolvedRecordThroughCopies) {
  Graph graph;
  Node input;
  input.op = "input";
  input.type = TensorType{DType::kF32, {2}};
  input.name = "x";
  NodeId x = graph.Add(input);
  Graph copy = graph;
  EXPECT_EQ(copy.node(x).op.def(), OpRegistry::Global().Find("input"));
  EXPECT_TRUE(OpOf(copy.node(x)).Has(kLeaf));
}

}  // namespace
}  // namespace kiln::ir
