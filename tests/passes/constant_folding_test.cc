// FoldConstants: folding through the op formulas, the exact algebraic identities, and the cases
// where neither may fire.
#include "passes/constant_folding.h"

#include <cmath>

#include "gtest/gtest.h"
#include "passes/dead_code_elimination.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::RunPass;

// Folding, then DCE so the expected text lists only what is left.
std::string FoldAndClean(ir::Graph& graph, bool expect_changed) {
  RunPass(FoldConstants, graph, expect_changed);
  EXPECT_TRUE(EliminateDeadCode(graph).ok());
  return ir::PrintGraph(graph);
}

TEST(ConstantFoldingTest, FoldsArithmeticChainThroughTheEvaluator) {
  ir::Graph graph = Parse(R"(graph g {
    %two = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %three = constant() {dtype="f32", shape=[], value=3.0} : f32[]
    %four = constant() {dtype="f32", shape=[2,3], value=4.0} : f32[2,3]
    %sum = add(%two, %three) : f32[]
    %product = mul(%sum, %four) : f32[2,3] name="p"
    outputs { y = %product }
  })");
  EXPECT_EQ(FoldAndClean(graph, true), Canonical(R"(graph g {
    %0 = constant() {dtype="f32", shape=[2,3], value=20.0} : f32[2,3] name="p"
    outputs { y = %0 }
  })"));
}

TEST(ConstantFoldingTest, FoldedValuesAreRoundedToF32) {
  ir::Graph graph = Parse(R"(graph g {
    %a = constant() {dtype="f32", shape=[], value=0.1} : f32[]
    %b = constant() {dtype="f32", shape=[], value=0.2} : f32[]
    %sum = add(%a, %b) : f32[]
    outputs { y = %sum }
  })");
  RunPass(FoldConstants, graph, true);
  const ir::Node& sum = graph.node(graph.Output("y"));
  ASSERT_EQ(sum.op, "constant");
  EXPECT_EQ(sum.attrs.GetFloat("value"), static_cast<double>(0.1f + 0.2f));
  EXPECT_NE(sum.attrs.GetFloat("value"), 0.1 + 0.2);
}

TEST(ConstantFoldingTest, FoldsComparisonOfIntegersAndCasts) {
  ir::Graph graph = Parse(R"(graph g {
    %a = constant() {dtype="i64", shape=[4], value=3} : i64[4]
    %b = constant() {dtype="i64", shape=[], value=3} : i64[]
    %eq = equal(%a, %b) : f32[4]
    %f = constant() {dtype="f32", shape=[], value=-2.75} : f32[]
    %i = cast(%f) {dtype="i64"} : i64[]
    outputs { eq = %eq, i = %i }
  })");
  RunPass(FoldConstants, graph, true);
  const ir::Node& eq = graph.node(graph.Output("eq"));
  ASSERT_EQ(eq.op, "constant");
  EXPECT_EQ(eq.attrs.GetFloat("value"), 1.0);
  EXPECT_EQ(eq.type.ToString(), "f32[4]");
  const ir::Node& i = graph.node(graph.Output("i"));
  ASSERT_EQ(i.op, "constant");
  EXPECT_EQ(i.attrs.GetFloat("value"), -2.0);
  EXPECT_EQ(i.type.ToString(), "i64[]");
}

TEST(ConstantFoldingTest, DoesNotFoldGeneratorsThatVaryPerElement) {
  const char* text = R"(graph g {
    %key = constant() {dtype="i64", shape=[], value=7} : i64[]
    %noise = random_uniform(%key) {salt=0, shape=[4]} : f32[4]
    %iota = iota() {dim=0, dtype="f32", shape=[4]} : f32[4]
    %r = relu(%iota) : f32[4]
    %sum = add(%noise, %r) : f32[4]
    outputs { y = %sum }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(FoldConstants, graph, false), Canonical(text));
}

TEST(ConstantFoldingTest, DoesNotFoldRandomEvenAsAScalar) {
  const char* text = R"(graph g {
    %key = constant() {dtype="i64", shape=[], value=7} : i64[]
    %noise = random_uniform(%key) {salt=0, shape=[]} : f32[]
    outputs { y = %noise }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(FoldConstants, graph, false), Canonical(text));
}

TEST(ConstantFoldingTest, DoesNotFoldNonConstantOperands) {
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %two = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %y = mul(%x, %two) : f32[2]
    outputs { y = %y }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(FoldConstants, graph, false), Canonical(text));
}

TEST(ConstantFoldingTest, RemovesMultiplicativeAndAdditiveIdentities) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %zero = constant() {dtype="f32", shape=[3], value=0.0} : f32[3]
    %neg_zero = constant() {dtype="f32", shape=[], value=-0.0} : f32[]
    %a = mul(%x, %one) : f32[2,3]
    %b = mul(%one, %a) : f32[2,3]
    %c = div(%b, %one) : f32[2,3]
    %d = sub(%c, %zero) : f32[2,3]
    %e = add(%d, %neg_zero) : f32[2,3]
    %f = add(%neg_zero, %e) : f32[2,3]
    %r = relu(%f) : f32[2,3]
    outputs { y = %r }
  })");
  EXPECT_EQ(FoldAndClean(graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %r = relu(%x) : f32[2,3]
    outputs { y = %r }
  })"));
}

TEST(ConstantFoldingTest, ForwardsOutputsToTheSimplifiedValue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %a = mul(%x, %one) : f32[2]
    outputs { y = %a }
  })");
  RunPass(FoldConstants, graph, true);
  EXPECT_EQ(graph.Output("y"), graph.FindByName("x"));
}

TEST(ConstantFoldingTest, KeepsIdentityThatWouldChangeTheShape) {
  // x * ones[2,3] broadcasts x from [3] to [2,3]: not the identity.
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[3]} : f32[3] name="x"
    %ones = constant() {dtype="f32", shape=[2,3], value=1.0} : f32[2,3]
    %y = mul(%x, %ones) : f32[2,3]
    outputs { y = %y }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(FoldConstants, graph, false), Canonical(text));
}

TEST(ConstantFoldingTest, KeepsAddOfPositiveZeroAndOtherNearIdentities) {
  // x + (+0) turns x = -0 into +0; x - (-0) likewise; 0 - x is -x; x * 2 and 1 / x are not x.
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %zero = constant() {dtype="f32", shape=[], value=0.0} : f32[]
    %neg_zero = constant() {dtype="f32", shape=[], value=-0.0} : f32[]
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %two = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %a = add(%x, %zero) : f32[2]
    %b = add(%zero, %a) : f32[2]
    %c = sub(%b, %neg_zero) : f32[2]
    %d = sub(%zero, %c) : f32[2]
    %e = mul(%d, %two) : f32[2]
    %f = div(%one, %e) : f32[2]
    outputs { y = %f }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(FoldConstants, graph, false), Canonical(text));
}

TEST(ConstantFoldingTest, SimplifiesReshapes) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %a = reshape(%x) {shape=[6]} : f32[6]
    %b = reshape(%a) {shape=[3,2]} : f32[3,2]
    %same = reshape(%x) {shape=[2,3]} : f32[2,3]
    %back = reshape(%b) {shape=[2,-1]} : f32[2,3]
    outputs { b = %b, same = %same, back = %back }
  })");
  EXPECT_EQ(FoldAndClean(graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %b = reshape(%x) {shape=[3,2]} : f32[3,2]
    outputs { b = %b, same = %x, back = %x }
  })"));
}

TEST(ConstantFoldingTest, ComposesAndCancelsTransposes) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3,4]} : f32[2,3,4] name="x"
    %t1 = transpose(%x) {perm=[1,2,0]} : f32[3,4,2]
    %t2 = transpose(%t1) {perm=[1,0,2]} : f32[4,3,2]
    %u1 = transpose(%x) {perm=[2,0,1]} : f32[4,2,3]
    %u2 = transpose(%u1) {perm=[1,2,0]} : f32[2,3,4]
    outputs { t = %t2, u = %u2 }
  })");
  // t2 reads x's dims (2, 1, 0): output dim i is t1 dim perm2[i], i.e. x dim perm1[perm2[i]].
  EXPECT_EQ(FoldAndClean(graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3,4]} : f32[2,3,4] name="x"
    %t = transpose(%x) {perm=[2,1,0]} : f32[4,3,2]
    outputs { t = %t, u = %x }
  })"));
}

TEST(ConstantFoldingTest, RemovesBroadcastAndTransposeThatMoveNothing) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[1,3]} : f32[1,3] name="x"
    %b = broadcast_to(%x) {shape=[1,3]} : f32[1,3]
    %s = input() {dtype="f32", shape=[1,1]} : f32[1,1] name="s"
    %t = transpose(%s) {perm=[1,0]} : f32[1,1]
    %wide = broadcast_to(%x) {shape=[4,3]} : f32[4,3]
    outputs { b = %b, t = %t, wide = %wide }
  })");
  EXPECT_EQ(FoldAndClean(graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[1,3]} : f32[1,3] name="x"
    %s = input() {dtype="f32", shape=[1,1]} : f32[1,1] name="s"
    %wide = broadcast_to(%x) {shape=[4,3]} : f32[4,3]
    outputs { b = %x, t = %s, wide = %wide }
  })"));
}

TEST(ConstantFoldingTest, DropsUpdatesThatWriteATensorIntoItself) {
  ir::Graph graph = Parse(R"(graph g {
    %s = state() {dtype="f32", shape=[2], value=0.0} : f32[2] name="s"
    %t = state() {dtype="f32", shape=[2], value=0.0} : f32[2] name="t"
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %same = mul(%s, %one) : f32[2]
    %next = add(%t, %one) : f32[2]
    updates { %s <- %same, %t <- %next }
  })");
  RunPass(FoldConstants, graph, true);
  ASSERT_EQ(graph.updates.size(), 1u);
  EXPECT_EQ(graph.node(graph.updates[0].target).name, "t");
}

TEST(ConstantFoldingTest, LeavesDeadNodesForDce) {
  ir::Graph graph = Parse(R"(graph g {
    %a = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %b = exp(%a) : f32[]
    outputs { y = %b }
  })");
  RunPass(FoldConstants, graph, true);
  EXPECT_EQ(graph.size(), 2);
  ASSERT_EQ(graph.node(graph.Output("y")).op, "constant");
  EXPECT_EQ(graph.node(graph.Output("y")).attrs.GetFloat("value"),
            static_cast<double>(std::exp(2.0f)));
}

}  // namespace
}  // namespace kiln::passes
