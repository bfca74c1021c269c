// EliminateDeadCode: what outputs and updates need stays, everything else goes.
#include "passes/dead_code_elimination.h"

#include "gtest/gtest.h"
#include "ir/graph_builder.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::RunPass;

TEST(DeadCodeEliminationTest, DropsDeadBranchesAndUnusedLeaves) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %unused_input = input() {dtype="f32", shape=[2]} : f32[2] name="u"
    %unused_param = parameter() {dtype="f32", init="constant", shape=[2], value=0.0} : f32[2] name="p"
    %dead = exp(%x) : f32[2]
    %dead2 = relu(%dead) : f32[2]
    %live = relu(%x) : f32[2]
    outputs { y = %live }
  })");
  EXPECT_EQ(RunPass(EliminateDeadCode, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %live = relu(%x) : f32[2]
    outputs { y = %live }
  })"));
}

TEST(DeadCodeEliminationTest, KeepsUpdateChainsAndTargets) {
  // The update of w needs lr, g and w; the state s is written from a constant and read by
  // nothing, and must survive as the update's target. The output only needs x.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[2], value=0.0} : f32[2] name="w"
    %s = state() {dtype="f32", shape=[], value=0.0} : f32[] name="s"
    %g = input() {dtype="f32", shape=[2]} : f32[2] name="g"
    %lr = constant() {dtype="f32", shape=[], value=0.1} : f32[]
    %step = mul(%g, %lr) : f32[2]
    %w_new = sub(%w, %step) : f32[2]
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %dead = mul(%w, %x) : f32[2]
    %y = neg(%x) : f32[2]
    outputs { y = %y }
    updates { %w <- %w_new, %s <- %one }
  })");
  EXPECT_EQ(RunPass(EliminateDeadCode, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[2], value=0.0} : f32[2] name="w"
    %s = state() {dtype="f32", shape=[], value=0.0} : f32[] name="s"
    %g = input() {dtype="f32", shape=[2]} : f32[2] name="g"
    %lr = constant() {dtype="f32", shape=[], value=0.1} : f32[]
    %step = mul(%g, %lr) : f32[2]
    %w_new = sub(%w, %step) : f32[2]
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %y = neg(%x) : f32[2]
    outputs { y = %y }
    updates { %w <- %w_new, %s <- %one }
  })"));
}

TEST(DeadCodeEliminationTest, NothingToDoReportsNoChange) {
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %y = relu(%x) : f32[2]
    outputs { y = %y }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(EliminateDeadCode, graph, false), Canonical(text));
}

TEST(DeadCodeEliminationTest, RenumbersThroughBuilderGraphs) {
  ir::Graph graph;
  ir::GraphBuilder b(graph);
  ir::NodeId x = b.Input("x", {ir::DType::kF32, {4}});
  b.Exp(x);  // Dead.
  ir::NodeId y = b.Relu(x);
  ASSERT_TRUE(b.status().ok());
  graph.outputs.push_back({"y", y});
  RunPass(EliminateDeadCode, graph, true);
  ASSERT_EQ(graph.size(), 2);
  EXPECT_EQ(graph.Output("y"), 1);
  EXPECT_EQ(graph.node(1).op, "relu");
  EXPECT_EQ(graph.node(1).operands, std::vector<ir::NodeId>{0});
}

TEST(DeadCodeEliminationTest, RejectsOutputsOutOfRange) {
  ir::Graph graph;
  graph.outputs.push_back({"y", 3});
  EXPECT_FALSE(EliminateDeadCode(graph).ok());
}

}  // namespace
}  // namespace kiln::passes
