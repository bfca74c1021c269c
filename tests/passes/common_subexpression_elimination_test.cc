// EliminateCommonSubexpressions: equal computations merge; distinct tensors never do.
#include "passes/common_subexpression_elimination.h"

#include "gtest/gtest.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::RunPass;

TEST(CommonSubexpressionEliminationTest, MergesDuplicatedSubexpressions) {
  // The second exp/mul chain and its constant repeat the first one; merging the constant makes
  // the muls equal, merging those makes the adds' operands equal.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %c1 = constant() {dtype="f32", shape=[], value=0.5} : f32[]
    %e1 = exp(%x) : f32[2]
    %m1 = mul(%e1, %c1) : f32[2]
    %c2 = constant() {dtype="f32", shape=[], value=0.5} : f32[]
    %e2 = exp(%x) : f32[2]
    %m2 = mul(%e2, %c2) : f32[2]
    %sum = add(%m1, %m2) : f32[2]
    outputs { y = %sum, z = %m2 }
  })");
  EXPECT_EQ(RunPass(EliminateCommonSubexpressions, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %c1 = constant() {dtype="f32", shape=[], value=0.5} : f32[]
    %e1 = exp(%x) : f32[2]
    %m1 = mul(%e1, %c1) : f32[2]
    %sum = add(%m1, %m1) : f32[2]
    outputs { y = %sum, z = %m1 }
  })"));
}

TEST(CommonSubexpressionEliminationTest, KeepsParametersAndInputsOfEqualTypeApart) {
  const char* text = R"(graph g {
    %a = parameter() {dtype="f32", init="constant", shape=[2], value=0.0} : f32[2] name="a"
    %b = parameter() {dtype="f32", init="constant", shape=[2], value=0.0} : f32[2] name="b"
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %z = input() {dtype="f32", shape=[2]} : f32[2] name="z"
    %s1 = state() {dtype="f32", shape=[2], value=0.0} : f32[2] name="s1"
    %s2 = state() {dtype="f32", shape=[2], value=0.0} : f32[2] name="s2"
    %ra = relu(%a) : f32[2]
    %rb = relu(%b) : f32[2]
    %rx = relu(%x) : f32[2]
    %rz = relu(%z) : f32[2]
    %sum = add(%s1, %s2) : f32[2]
    outputs { a = %ra, b = %rb, x = %rx, z = %rz, s = %sum }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(EliminateCommonSubexpressions, graph, false), Canonical(text));
}

TEST(CommonSubexpressionEliminationTest, KeepsDifferentAttrsAndRandomDrawsApart) {
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %key = input() {dtype="i64", shape=[]} : i64[] name="key"
    %s0 = reduce_sum(%x) {dims=[0], keepdim=0} : f32[3]
    %s1 = reduce_sum(%x) {dims=[0], keepdim=1} : f32[1,3]
    %c1 = constant() {dtype="f32", shape=[], value=0.1234567} : f32[]
    %c2 = constant() {dtype="f32", shape=[], value=0.1234568} : f32[]
    %r1 = random_uniform(%key) {salt=1, shape=[3]} : f32[3]
    %r2 = random_uniform(%key) {salt=1, shape=[3]} : f32[3]
    outputs { s0 = %s0, s1 = %s1, c1 = %c1, c2 = %c2, r1 = %r1, r2 = %r2 }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(EliminateCommonSubexpressions, graph, false), Canonical(text));
}

TEST(CommonSubexpressionEliminationTest, MergesIotaAndKeepsTwoUpdateValuesApart) {
  // Two updates writing equal values each need their own node: one is written in place into s1,
  // the other into s2. The iotas merge.
  ir::Graph graph = Parse(R"(graph g {
    %s1 = state() {dtype="f32", shape=[3], value=0.0} : f32[3] name="s1"
    %s2 = state() {dtype="f32", shape=[3], value=0.0} : f32[3] name="s2"
    %i1 = iota() {dim=0, dtype="f32", shape=[3]} : f32[3]
    %i2 = iota() {dim=0, dtype="f32", shape=[3]} : f32[3]
    %v1 = relu(%i1) : f32[3]
    %v2 = relu(%i2) : f32[3]
    updates { %s1 <- %v1, %s2 <- %v2 }
  })");
  EXPECT_EQ(RunPass(EliminateCommonSubexpressions, graph, true), Canonical(R"(graph g {
    %s1 = state() {dtype="f32", shape=[3], value=0.0} : f32[3] name="s1"
    %s2 = state() {dtype="f32", shape=[3], value=0.0} : f32[3] name="s2"
    %i1 = iota() {dim=0, dtype="f32", shape=[3]} : f32[3]
    %v1 = relu(%i1) : f32[3]
    %v2 = relu(%i1) : f32[3]
    updates { %s1 <- %v1, %s2 <- %v2 }
  })"));
}

}  // namespace
}  // namespace kiln::passes
