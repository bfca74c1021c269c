// KernelOrigins: which pass of the step a node belongs to, and the description a non-finite
// error quotes. The graph is a hand-written SGD step with momentum.
#include "codegen/kernel_origin.h"

#include <string>

#include "gtest/gtest.h"
#include "ir/parser.h"

namespace kiln::codegen {
namespace {

using Pass = KernelOrigins::Pass;

ir::Graph StepGraph() {
  absl::StatusOr<ir::Graph> graph = ir::ParseGraph(R"(graph g {
    %x = input() {dtype="f32", shape=[4]} : f32[4] name="x"
    %lr = input() {dtype="f32", shape=[]} : f32[] name="kiln.lr"
    %w = parameter() {dtype="f32", init="constant", shape=[4], value=0.0} : f32[4] name="w"
    %m = state() {dtype="f32", shape=[4], value=0.0} : f32[4] name="w.momentum"
    %y = mul(%x, %w) : f32[4] name="y"
    %loss = reduce_sum(%y) {dims=[0], keepdim=0} : f32[] name="loss"
    %g = exp(%y) : f32[4]
    %mn = add(%m, %g) : f32[4]
    %step = mul(%mn, %lr) : f32[4]
    %wn = sub(%w, %step) : f32[4]
    outputs { loss = %loss }
    updates { %w <- %wn, %m <- %mn }
  })");
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : ir::Graph();
}

TEST(KernelOriginsTest, ClassifiesForwardBackwardAndUpdate) {
  const ir::Graph graph = StepGraph();
  const KernelOrigins origins(graph);
  EXPECT_EQ(origins.PassOf(graph.FindByName("y")), Pass::kForward);
  EXPECT_EQ(origins.PassOf(graph.FindByName("loss")), Pass::kForward);
  EXPECT_EQ(origins.PassOf(6), Pass::kBackward);  // %g reads the forward value y only.
  EXPECT_EQ(origins.PassOf(7), Pass::kUpdate);    // %mn reads the momentum state.
  EXPECT_EQ(origins.PassOf(8), Pass::kUpdate);    // %step reads the learning rate.
  EXPECT_EQ(origins.PassOf(9), Pass::kUpdate);    // %wn is written over w.
}

TEST(KernelOriginsTest, DescribesOneOpOrAFusedKernel) {
  const ir::Graph graph = StepGraph();
  const KernelOrigins origins(graph);
  ir::Kernel single{.name = "k1_exp", .nodes = {6}};
  EXPECT_EQ(origins.Describe(single), "'exp' in the backward pass");
  ir::Kernel named{.name = "k0_mul", .nodes = {4}};
  EXPECT_EQ(origins.Describe(named), "'mul' (y) in the forward pass");
  ir::Kernel fused{.name = "k2_add_mul_sub", .nodes = {7, 8, 9}};
  EXPECT_EQ(origins.Describe(fused),
            "kernel k2_add_mul_sub (add, mul, sub), first op 'add' in the update step");
}

}  // namespace
}  // namespace kiln::codegen
