// KernelFlops and KernelBytes against hand-computed counts for three kernels `kiln bench`
// reports: a plain matmul, a matmul with its bias + ReLU epilogue, and an Adam update.
#include "codegen/kernel_cost.h"

#include "gtest/gtest.h"
#include "ir/parser.h"

namespace kiln::codegen {
namespace {

ir::Graph Parse(const char* text) {
  absl::StatusOr<ir::Graph> graph = ir::ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : ir::Graph();
}

// x f32[8,16] times w f32[16,4], then + b f32[4] and relu.
constexpr char kDense[] = R"(graph g {
  %x = input() {dtype="f32", shape=[8,16]} : f32[8,16] name="x"
  %w = parameter() {dtype="f32", init="constant", shape=[16,4], value=0.5} : f32[16,4] name="w"
  %b = parameter() {dtype="f32", init="constant", shape=[4], value=0.0} : f32[4] name="b"
  %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[8,4]
  %z = add(%mm, %b) : f32[8,4]
  %h = relu(%z) : f32[8,4]
  outputs { h = %h }
})";

TEST(KernelCostTest, MatmulCountsTwoMnkAndItsOperands) {
  const ir::Graph graph = Parse(kDense);
  const ir::Kernel matmul{.name = "k0_matmul",
                          .kind = ir::KernelKind::kMatmul,
                          .root = 3,
                          .nodes = {3},
                          .outputs = {3},
                          .inputs = {0, 1}};
  EXPECT_EQ(KernelFlops(graph, matmul), 2.0 * 8 * 4 * 16);               // 1024
  EXPECT_EQ(KernelBytes(graph, matmul), (8 * 16 + 16 * 4 + 8 * 4) * 4);  // x, w read; out written
}

TEST(KernelCostTest, BiasReluEpilogueAddsOneFlopPerElementAndOnlyTheBias) {
  const ir::Graph graph = Parse(kDense);
  const ir::Kernel fused{.name = "k0_matmul_add_relu",
                         .kind = ir::KernelKind::kMatmul,
                         .root = 3,
                         .nodes = {3, 4, 5},
                         .outputs = {5},
                         .inputs = {0, 1, 2}};
  EXPECT_EQ(KernelFlops(graph, fused), 1024.0 + 32 + 32);
  // The pre-activation never leaves the kernel: only the bias is added to the traffic.
  EXPECT_EQ(KernelBytes(graph, fused), (8 * 16 + 16 * 4 + 4 + 8 * 4) * 4);
}

// m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; w' = w - lr m' / (sqrt(v') + eps), over 8
// elements with the hyperparameters as constants (generators: no flops, no traffic).
TEST(KernelCostTest, AdamUpdateCountsTwelveOpsPerElementAndItsStateOnce) {
  const ir::Graph graph = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[8]} : f32[8] name="g"
    %lr = input() {dtype="f32", shape=[]} : f32[] name="kiln.lr"
    %w = parameter() {dtype="f32", init="constant", shape=[8], value=0.5} : f32[8] name="w"
    %m = state() {dtype="f32", shape=[8], value=0.0} : f32[8] name="w.m"
    %v = state() {dtype="f32", shape=[8], value=0.0} : f32[8] name="w.v"
    %b1 = constant() {dtype="f32", shape=[], value=0.9} : f32[]
    %c1 = constant() {dtype="f32", shape=[], value=0.1} : f32[]
    %b2 = constant() {dtype="f32", shape=[], value=0.999} : f32[]
    %c2 = constant() {dtype="f32", shape=[], value=0.001} : f32[]
    %eps = constant() {dtype="f32", shape=[], value=0.00000001} : f32[]
    %m1 = mul(%b1, %m) : f32[8]
    %g1 = mul(%c1, %g) : f32[8]
    %mn = add(%m1, %g1) : f32[8]
    %gg = mul(%g, %g) : f32[8]
    %v1 = mul(%b2, %v) : f32[8]
    %g2 = mul(%c2, %gg) : f32[8]
    %vn = add(%v1, %g2) : f32[8]
    %sq = sqrt(%vn) : f32[8]
    %den = add(%sq, %eps) : f32[8]
    %r = div(%mn, %den) : f32[8]
    %st = mul(%r, %lr) : f32[8]
    %wn = sub(%w, %st) : f32[8]
    outputs { wn = %wn }
    updates { %w <- %wn, %m <- %mn, %v <- %vn }
  })");
  ir::Kernel adam{.name = "k0_adam", .kind = ir::KernelKind::kLoop, .root = 12};
  for (ir::NodeId id = 5; id <= 21; ++id) adam.nodes.push_back(id);
  adam.inputs = {0, 1, 2, 3, 4};
  adam.outputs = {12, 16, 21};
  EXPECT_EQ(KernelFlops(graph, adam), 12.0 * 8);
  // Reads g, w, m, v (8 floats each) and lr; writes m', v', w'.
  EXPECT_EQ(KernelBytes(graph, adam), (4 * 8 + 1 + 3 * 8) * 4);
}

}  // namespace
}  // namespace kiln::codegen
