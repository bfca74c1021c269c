// FuseKernels: which nodes share a kernel, what each kernel reads and stores, and the order the
// kernels run in. Graphs go in as IR text; the fusion dump (DescribeKernels) comes out. Each rule
// that fires has a twin case where it must not, and the twin that is not fused asserts the
// reason the pass gives for it (Kernel::unfused_inputs, printed under "not fused:").
#include "passes/fuse_kernels.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ir/graph.h"
#include "passes/fusion_decision.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using ir::Kernel;
using ir::KernelKind;
using ir::NodeId;
using testing::Parse;

std::vector<Kernel> Fuse(const ir::Graph& graph) {
  absl::StatusOr<std::vector<Kernel>> kernels = FuseKernels(graph);
  EXPECT_TRUE(kernels.ok()) << kernels.status();
  return kernels.ok() ? *std::move(kernels) : std::vector<Kernel>{};
}

std::string Describe(const ir::Graph& graph) { return DescribeKernels(graph, Fuse(graph)); }

// Index of the kernel computing node `id`, or -1.
int KernelOf(const std::vector<Kernel>& kernels, NodeId id) {
  for (size_t k = 0; k < kernels.size(); ++k) {
    const std::vector<NodeId>& nodes = kernels[k].nodes;
    if (std::find(nodes.begin(), nodes.end(), id) != nodes.end()) return static_cast<int>(k);
  }
  return -1;
}

// Why `producer` was not fused into `consumer`: the reason recorded in the kernel computing
// `consumer`, or "" when no kernel reads `producer` across a boundary into `consumer`.
std::string UnfusedReason(const std::vector<Kernel>& kernels, NodeId producer, NodeId consumer) {
  for (const Kernel& k : kernels) {
    for (const ir::UnfusedEdge& e : k.unfused_inputs) {
      if (e.producer == producer && e.consumer == consumer) return e.reason;
    }
  }
  return "";
}

bool NoUnfusedEdges(const std::vector<Kernel>& kernels) {
  return std::all_of(kernels.begin(), kernels.end(),
                     [](const Kernel& k) { return k.unfused_inputs.empty(); });
}

TEST(FusionDecisionTest, AllowHasNoReasonAndForbidKeepsIts) {
  FusionDecision allow = FusionDecision::Allow();
  EXPECT_TRUE(allow);
  EXPECT_TRUE(allow.CanFuse());
  EXPECT_EQ(allow.Explain(), "");
  FusionDecision forbid = FusionDecision::Forbid("producer has users in 2 kernels");
  EXPECT_FALSE(forbid);
  EXPECT_FALSE(forbid.CanFuse());
  EXPECT_EQ(forbid.Explain(), "producer has users in 2 kernels");
}

// Node ids below follow the order of the lines in each graph (the parser numbers them so).

TEST(FuseKernelsTest, BiasAndReluBecomeTheGemmEpilogue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,16]} : f32[8,16] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[16,4], value=0.0} : f32[16,4] name="w"
    %b = parameter() {dtype="f32", init="constant", shape=[4], value=0.0} : f32[4] name="b"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[8,4]
    %z = add(%mm, %b) : f32[8,4]
    %h = relu(%z) : f32[8,4] name="h"
    outputs { h = %h }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_matmul_add_relu (matmul, 3 ops)\n"
            "  ops:     %3 matmul, %4 add, %5 relu 'h'\n"
            "  inputs:  %0 input 'x', %1 parameter 'w', %2 parameter 'b'\n"
            "  outputs: %5 relu 'h' f32[8,4]\n");
}

// The replay that names the op behind a NaN needs every op's value in memory: with
// one_op_per_kernel the same graph is three kernels, each storing what it computes, the
// constant still recomputed inside its user.
TEST(FuseKernelsTest, OneOpPerKernelStoresEveryValue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,16]} : f32[8,16] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[16,4], value=0.0} : f32[16,4] name="w"
    %c = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[8,4]
    %z = add(%mm, %c) : f32[8,4]
    %h = relu(%z) : f32[8,4] name="h"
    outputs { h = %h }
  })");
  absl::StatusOr<std::vector<Kernel>> kernels =
      FuseKernels(graph, FusionOptions{.one_op_per_kernel = true});
  ASSERT_TRUE(kernels.ok()) << kernels.status();
  EXPECT_EQ(DescribeKernels(graph, *kernels),
            "kernel k0_matmul (matmul, 1 ops)\n"
            "  ops:     %3 matmul\n"
            "  inputs:  %0 input 'x', %1 parameter 'w'\n"
            "  outputs: %3 matmul f32[8,4]\n"
            "kernel k1_add (loop, 1 ops)\n"
            "  ops:     %4 add\n"
            "  inputs:  %3 matmul\n"
            "  outputs: %4 add f32[8,4]\n"
            "kernel k2_relu (loop, 1 ops)\n"
            "  ops:     %5 relu 'h'\n"
            "  inputs:  %4 add\n"
            "  outputs: %5 relu 'h' f32[8,4]\n"
            "not fused:\n"
            "  %3 matmul -> %4 add: one op per kernel was requested\n"
            "  %4 add -> %5 relu 'h': one op per kernel was requested\n");
}

// A window op reads its operand from memory at computed coordinates, and its elementwise
// consumer runs in the same loop.
TEST(FuseKernelsTest, WindowOpReadsABufferAndFeedsItsConsumerLoop) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %e = exp(%x) : f32[4,6]
    %s = slice(%e) {starts=[1,0], steps=[2,3], stops=[4,6]} : f32[2,2]
    %r = relu(%s) : f32[2,2] name="r"
    outputs { r = %r }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_exp (loop, 1 ops)\n"
            "  ops:     %1 exp\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %1 exp f32[4,6]\n"
            "kernel k1_slice_relu (loop, 2 ops)\n"
            "  ops:     %2 slice, %3 relu 'r'\n"
            "  inputs:  %1 exp\n"
            "  outputs: %3 relu 'r' f32[2,2]\n"
            "not fused:\n"
            "  %1 exp -> %2 slice: %2 slice reads the producer at computed coordinates\n");
}

// The twin: a cheap operand (a ReLU of a transpose, as between a convolution's GEMM and the next
// im2col) is recomputed at the window op's coordinates instead of stored and read back, even
// where another kernel reads it too.
TEST(FuseKernelsTest, WindowOpRecomputesACheapOperandAtItsCoordinates) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[6,4]} : f32[6,4] name="x"
    %t = transpose(%x) {perm=[1,0]} : f32[4,6]
    %r = relu(%t) : f32[4,6]
    %s = slice(%r) {starts=[1,0], steps=[2,3], stops=[4,6]} : f32[2,2] name="s"
    %m = reduce_max(%r) {dims=[1], keepdim=0} : f32[4] name="m"
    outputs { s = %s, m = %m }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_transpose_relu_slice (loop, 3 ops)\n"
            "  ops:     %1 transpose, %2 relu, %3 slice 's'\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %3 slice 's' f32[2,2]\n"
            "kernel k1_transpose_relu_reduce_max (reduction, 3 ops)\n"
            "  ops:     %1 transpose, %2 relu, %4 reduce_max 'm'\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %4 reduce_max 'm' f32[4]\n");
}

// The twin of WindowOpReadsABufferAndFeedsItsConsumerLoop: a window op computes its own
// element's coordinates, which a reduction's loop does not give it.
TEST(FuseKernelsTest, WindowOpDoesNotJoinAReduction) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %s = slice(%x) {starts=[1,0], steps=[2,3], stops=[4,6]} : f32[2,2]
    %t = reduce_sum(%s) {dims=[1], keepdim=0} : f32[2] name="t"
    outputs { t = %t }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 1, 2),
            "window op slice needs a loop kernel, not the reduction kernel of %2 reduce_sum 't'");
}

// The CPU GEMM epilogue computes a vector of columns at once: no window op joins it.
TEST(FuseKernelsTest, WindowOpDoesNotJoinAGemmEpilogue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %w = input() {dtype="f32", shape=[6,4]} : f32[6,4] name="w"
    %y = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="y"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[4,4]
    %s = slice(%y) {starts=[0,0], steps=[1,2], stops=[4,8]} : f32[4,4]
    %z = add(%mm, %s) : f32[4,4] name="z"
    outputs { z = %z }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  int with_add = KernelOf(kernels, 5);
  ASSERT_GE(with_add, 0);
  EXPECT_EQ(kernels[with_add].kind, KernelKind::kLoop);
  EXPECT_NE(KernelOf(kernels, 3), with_add);
  EXPECT_EQ(UnfusedReason(kernels, 3, 5),
            "the loop kernel of %5 add 'z' holds window op %4 slice, which a vectorized GEMM "
            "epilogue cannot compute");
}

TEST(FuseKernelsTest, MatmulThatIsAGraphOutputIsNotFused) {
  // The raw product must be stored, so it cannot live only in the GEMM's accumulators.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,16]} : f32[8,16] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[16,4], value=0.0} : f32[16,4] name="w"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[8,4]
    %h = relu(%mm) : f32[8,4]
    outputs { logits = %mm, h = %h }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_matmul (matmul, 1 ops)\n"
            "  ops:     %2 matmul\n"
            "  inputs:  %0 input 'x', %1 parameter 'w'\n"
            "  outputs: %2 matmul f32[8,4]\n"
            "kernel k1_relu (loop, 1 ops)\n"
            "  ops:     %3 relu\n"
            "  inputs:  %2 matmul\n"
            "  outputs: %3 relu f32[8,4]\n"
            "not fused:\n"
            "  %2 matmul -> %3 relu: the matmul is graph output 'logits', so it cannot live only "
            "in the GEMM's accumulators\n");
}

TEST(FuseKernelsTest, InPlaceUpdateIsNotAGemmEpilogue) {
  // w <- w - x^T g: the subtraction reads w at the coordinates it overwrites, which only a loop
  // kernel guarantees.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="x"
    %g = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="g"
    %w = parameter() {dtype="f32", init="constant", shape=[4,4], value=0.0} : f32[4,4] name="w"
    %mm = matmul(%x, %g) {transpose_a=1, transpose_b=0} : f32[4,4]
    %new = sub(%w, %mm) : f32[4,4]
    updates { %w <- %new }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(kernels[0].kind, KernelKind::kMatmul);
  EXPECT_EQ(kernels[0].nodes, std::vector<NodeId>{3});
  EXPECT_EQ(kernels[1].kind, KernelKind::kLoop);
  EXPECT_EQ(kernels[1].nodes, std::vector<NodeId>{4});
  EXPECT_EQ(kernels[1].outputs, std::vector<NodeId>{4});
  EXPECT_EQ(UnfusedReason(kernels, 3, 4),
            "the consumers' kernel writes %4 sub, the new value of 'w'; optimizer updates stay out "
            "of GEMM epilogues");
}

TEST(FuseKernelsTest, SameSubtractionWithoutTheUpdateIsAnEpilogue) {
  // The twin of InPlaceUpdateIsNotAGemmEpilogue: as a plain output the subtraction fuses.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="x"
    %g = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="g"
    %w = parameter() {dtype="f32", init="constant", shape=[4,4], value=0.0} : f32[4,4] name="w"
    %mm = matmul(%x, %g) {transpose_a=1, transpose_b=0} : f32[4,4]
    %new = sub(%w, %mm) : f32[4,4]
    outputs { y = %new }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 1u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(kernels[0].kind, KernelKind::kMatmul);
  EXPECT_EQ(kernels[0].root, 3);
  EXPECT_EQ(kernels[0].nodes, (std::vector<NodeId>{3, 4}));
  EXPECT_EQ(kernels[0].outputs, std::vector<NodeId>{4});
  EXPECT_TRUE(NoUnfusedEdges(kernels));
}

TEST(FuseKernelsTest, ExpensiveProducerOfTwoKernelsIsMaterialized) {
  // exp feeds a row sum and a column max: two kernels. Recomputing exp in both would double its
  // cost, so it gets a kernel and a buffer of its own.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %e = exp(%x) : f32[4,8]
    %rows = reduce_sum(%e) {dims=[1], keepdim=0} : f32[4]
    %cols = reduce_max(%e) {dims=[0], keepdim=0} : f32[8]
    outputs { rows = %rows, cols = %cols }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_exp (loop, 1 ops)\n"
            "  ops:     %1 exp\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %1 exp f32[4,8]\n"
            "kernel k1_reduce_sum (reduction, 1 ops)\n"
            "  ops:     %2 reduce_sum\n"
            "  inputs:  %1 exp\n"
            "  outputs: %2 reduce_sum f32[4]\n"
            "kernel k2_reduce_max (reduction, 1 ops)\n"
            "  ops:     %3 reduce_max\n"
            "  inputs:  %1 exp\n"
            "  outputs: %3 reduce_max f32[8]\n"
            "not fused:\n"
            "  %1 exp -> %2 reduce_sum, %3 reduce_max: producer has users in 2 kernels, and exp is "
            "too costly to recompute\n");
}

TEST(FuseKernelsTest, CheapProducerOfTwoKernelsIsRecomputedInEach) {
  // The twin: neg costs one instruction, so each reduction computes it in its own loop.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %n = neg(%x) : f32[4,8]
    %rows = reduce_sum(%n) {dims=[1], keepdim=0} : f32[4]
    %cols = reduce_max(%n) {dims=[0], keepdim=0} : f32[8]
    outputs { rows = %rows, cols = %cols }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_neg_reduce_sum (reduction, 2 ops)\n"
            "  ops:     %1 neg, %2 reduce_sum\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %2 reduce_sum f32[4]\n"
            "kernel k1_neg_reduce_max (reduction, 2 ops)\n"
            "  ops:     %1 neg, %3 reduce_max\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %3 reduce_max f32[8]\n");
}

TEST(FuseKernelsTest, ExpensiveProducerOfARecomputedOpIsMaterialized) {
  // neg is recomputed in both reductions; exp, feeding it, is too costly to follow it there.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %e = exp(%x) : f32[4,8]
    %n = neg(%e) : f32[4,8]
    %rows = reduce_sum(%n) {dims=[1], keepdim=0} : f32[4]
    %cols = reduce_max(%n) {dims=[0], keepdim=0} : f32[8]
    outputs { rows = %rows, cols = %cols }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 3u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 1, 2),
            "user %2 neg is recomputed in each kernel using it, and exp is too costly to "
            "recompute");
  // The edge enters both reductions; the dump lists it once.
  EXPECT_EQ(DescribeUnfusedEdges(graph, kernels),
            "not fused:\n"
            "  %1 exp -> %2 neg: user %2 neg is recomputed in each kernel using it, and exp is too "
            "costly to recompute\n");
}

TEST(FuseKernelsTest, ProducerOfAGraphOutputUsedByTwoKernelsIsStored) {
  // neg is cheap but a graph output: recomputing it would still leave it to store.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %n = neg(%x) : f32[4,8]
    %rows = reduce_sum(%n) {dims=[1], keepdim=0} : f32[4]
    %cols = reduce_max(%n) {dims=[0], keepdim=0} : f32[8]
    outputs { n = %n, rows = %rows, cols = %cols }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 3u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 1, 3),
            "producer has users in 2 kernels, and it is graph output 'n'");
}

TEST(FuseKernelsTest, BroadcastOfAnExpensiveOpIsNotAbsorbed) {
  // exp of a [4] vector read by a [3,4] loop would run 12 times instead of 4.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[3,4]} : f32[3,4] name="x"
    %v = input() {dtype="f32", shape=[4]} : f32[4] name="v"
    %e = exp(%v) : f32[4]
    %bc = broadcast_to(%e) {shape=[3,4]} : f32[3,4]
    %y = mul(%x, %bc) : f32[3,4]
    outputs { y = %y }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_exp (loop, 1 ops)\n"
            "  ops:     %2 exp\n"
            "  inputs:  %1 input 'v'\n"
            "  outputs: %2 exp f32[4]\n"
            "kernel k1_broadcast_to_mul (loop, 2 ops)\n"
            "  ops:     %3 broadcast_to, %4 mul\n"
            "  inputs:  %0 input 'x', %2 exp\n"
            "  outputs: %4 mul f32[3,4]\n"
            "not fused:\n"
            "  %2 exp -> %3 broadcast_to: the loop kernel of %4 mul reads exp f32[4] broadcast "
            "over f32[3,4]: it would be recomputed per use, and exp is too costly to recompute\n");
}

TEST(FuseKernelsTest, BroadcastOfACheapOpIsAbsorbed) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[3,4]} : f32[3,4] name="x"
    %v = input() {dtype="f32", shape=[4]} : f32[4] name="v"
    %n = neg(%v) : f32[4]
    %y = add(%x, %n) : f32[3,4]
    outputs { y = %y }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_neg_add (loop, 2 ops)\n"
            "  ops:     %2 neg, %3 add\n"
            "  inputs:  %0 input 'x', %1 input 'v'\n"
            "  outputs: %3 add f32[3,4]\n");
}

TEST(FuseKernelsTest, StoredCheapOpOfAnotherShapeIsNotAbsorbed) {
  // The twin of BroadcastOfACheapOpIsAbsorbed with neg also a graph output: the loop runs over
  // [3,4] coordinates and can store no [4] value.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[3,4]} : f32[3,4] name="x"
    %v = input() {dtype="f32", shape=[4]} : f32[4] name="v"
    %n = neg(%v) : f32[4]
    %y = add(%x, %n) : f32[3,4]
    outputs { y = %y, n = %n }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 2, 3),
            "producer is graph output 'n' of type f32[4], but the loop kernel of %3 add iterates "
            "over f32[3,4]");
}

TEST(FuseKernelsTest, StoredProducerOfAReductionIsNotAbsorbed) {
  // The twin of ReductionAbsorbsItsElementwiseProducers: a reduction stores only its result.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %e = exp(%x) : f32[4,8]
    %s = reduce_sum(%e) {dims=[1], keepdim=0} : f32[4]
    outputs { e = %e, s = %s }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 1, 2),
            "producer is graph output 'e', and the reduction kernel of %2 reduce_sum stores only "
            "its result");
}

TEST(FuseKernelsTest, ReductionRootsItsOwnKernel) {
  // Elementwise ops fuse into a reduction's loads, never the other way round.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %s = reduce_sum(%x) {dims=[1], keepdim=0} : f32[4]
    %l = log(%s) : f32[4] name="l"
    outputs { l = %l }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 1, 2),
            "producer is a reduction (reduce_sum), which roots a kernel");
}

TEST(FuseKernelsTest, MatmulFeedingAReductionIsNotAnEpilogue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %w = input() {dtype="f32", shape=[6,4]} : f32[6,4] name="w"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[4,4]
    %s = reduce_sum(%mm) {dims=[1], keepdim=0} : f32[4] name="s"
    outputs { s = %s }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 2, 3),
            "a GEMM epilogue must be a loop kernel, not the reduction kernel of %3 reduce_sum 's'");
}

TEST(FuseKernelsTest, MatmulBroadcastIntoALargerLoopIsNotAnEpilogue) {
  // The epilogue sees one accumulator tile of [4,1]; the add runs over [4,3].
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %w = input() {dtype="f32", shape=[6,1]} : f32[6,1] name="w"
    %y = input() {dtype="f32", shape=[4,3]} : f32[4,3] name="y"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[4,1]
    %z = add(%y, %mm) : f32[4,3] name="z"
    outputs { z = %z }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 3, 4),
            "the loop kernel of %4 add 'z' iterates over f32[4,3], the matmul produces f32[4,1]");
}

TEST(FuseKernelsTest, MatmulReadThroughATransposeIsNotAnEpilogue) {
  // The transpose joins the relu's loop, but an epilogue sees the accumulator tile only at its
  // own coordinates.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,6]} : f32[4,6] name="x"
    %w = input() {dtype="f32", shape=[6,4]} : f32[6,4] name="w"
    %mm = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[4,4]
    %t = transpose(%mm) {perm=[1,0]} : f32[4,4]
    %r = relu(%t) : f32[4,4] name="r"
    outputs { r = %r }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 2, 3),
            "%3 transpose depends on the matmul in the loop kernel of %4 relu 'r' and is not "
            "elementwise");
}

TEST(FuseKernelsTest, MatmulOperandIsReadFromMemory) {
  // The twin of BiasAndReluBecomeTheGemmEpilogue one layer up: the relu feeding the next GEMM
  // is stored, because the GEMM packs its operands from memory.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,16]} : f32[8,16] name="x"
    %w = input() {dtype="f32", shape=[16,4]} : f32[16,4] name="w"
    %h = relu(%x) : f32[8,16] name="h"
    %mm = matmul(%h, %w) {transpose_a=0, transpose_b=0} : f32[8,4] name="y"
    outputs { y = %mm }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(UnfusedReason(kernels, 2, 3), "%3 matmul 'y' reads the producer from memory");
}

TEST(FuseKernelsTest, ReductionAbsorbsItsElementwiseProducers) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %w = input() {dtype="f32", shape=[8]} : f32[8] name="w"
    %t = transpose(%x) {perm=[1,0]} : f32[8,4]
    %e = exp(%t) : f32[8,4]
    %c = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %m = mul(%e, %c) : f32[8,4]
    %s = reduce_sum(%m) {dims=[1], keepdim=1} : f32[8,1]
    outputs { s = %s }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_transpose_exp_mul_reduce_sum (reduction, 4 ops)\n"
            "  ops:     %2 transpose, %3 exp, %5 mul, %6 reduce_sum\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %6 reduce_sum f32[8,1]\n");  // Nothing under "not fused".
}

TEST(FuseKernelsTest, AdamStyleUpdateIsOneLoopKernelWithThreeOutputs) {
  ir::Graph graph = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[64]} : f32[64] name="g"
    %p = parameter() {dtype="f32", init="constant", shape=[64], value=0.0} : f32[64] name="p"
    %m = state() {dtype="f32", shape=[64], value=0.0} : f32[64] name="p.m"
    %v = state() {dtype="f32", shape=[64], value=0.0} : f32[64] name="p.v"
    %b1 = constant() {dtype="f32", shape=[], value=0.9} : f32[]
    %m_new = add(%m, %g) : f32[64]
    %m_new2 = mul(%m_new, %b1) : f32[64]
    %g2 = mul(%g, %g) : f32[64]
    %v_new = add(%v, %g2) : f32[64]
    %root = sqrt(%v_new) : f32[64]
    %ratio = div(%m_new2, %root) : f32[64]
    %p_new = sub(%p, %ratio) : f32[64]
    updates { %p <- %p_new, %m <- %m_new2, %v <- %v_new }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 1u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(kernels[0].kind, KernelKind::kLoop);
  EXPECT_EQ(kernels[0].outputs, (std::vector<NodeId>{6, 8, 11}));
  EXPECT_EQ(kernels[0].inputs, (std::vector<NodeId>{0, 1, 2, 3}));
}

// A gradient that arrives transposed (a convolution's weight gradient, [OC, KH, KW, C] ->
// [OC, C, KH, KW]) is transposed by a kernel of its own: fused, the update would stream its
// parameter at the pace of the strided read.
TEST(FuseKernelsTest, UpdateReadsATransposedGradientFromItsOwnKernel) {
  ir::Graph graph = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[4,9,8]} : f32[4,9,8] name="g"
    %p = parameter() {dtype="f32", init="constant", shape=[4,8,9], value=0.0} : f32[4,8,9] name="p"
    %gt = transpose(%g) {perm=[0,2,1]} : f32[4,8,9]
    %p_new = sub(%p, %gt) : f32[4,8,9]
    updates { %p <- %p_new }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_transpose (loop, 1 ops)\n"
            "  ops:     %2 transpose\n"
            "  inputs:  %0 input 'g'\n"
            "  outputs: %2 transpose f32[4,8,9]\n"
            "kernel k1_sub (loop, 1 ops)\n"
            "  ops:     %3 sub\n"
            "  inputs:  %1 parameter 'p', %2 transpose\n"
            "  outputs: %3 sub f32[4,8,9]\n"
            "not fused:\n"
            "  %2 transpose -> %3 sub: the loop kernel of %3 sub writes the new value of 'p', and "
            "transpose would read its gradient out of order\n");
}

// The twins: a broadcast reads in order and fuses into the update; so does the transpose when
// the result is a plain output.
TEST(FuseKernelsTest, UpdateAbsorbsABroadcastAndAPlainOutputATranspose) {
  ir::Graph update = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[8,1]} : f32[8,1] name="g"
    %p = parameter() {dtype="f32", init="constant", shape=[4,8,9], value=0.0} : f32[4,8,9] name="p"
    %gb = broadcast_to(%g) {shape=[4,8,9]} : f32[4,8,9]
    %p_new = sub(%p, %gb) : f32[4,8,9]
    updates { %p <- %p_new }
  })");
  std::vector<Kernel> kernels = Fuse(update);
  ASSERT_EQ(kernels.size(), 1u) << DescribeKernels(update, kernels);
  ir::Graph output = Parse(R"(graph g {
    %g = input() {dtype="f32", shape=[4,9,8]} : f32[4,9,8] name="g"
    %p = parameter() {dtype="f32", init="constant", shape=[4,8,9], value=0.0} : f32[4,8,9] name="p"
    %gt = transpose(%g) {perm=[0,2,1]} : f32[4,8,9]
    %p_new = sub(%p, %gt) : f32[4,8,9]
    outputs { y = %p_new }
  })");
  kernels = Fuse(output);
  ASSERT_EQ(kernels.size(), 1u) << DescribeKernels(output, kernels);
}

TEST(FuseKernelsTest, ReadersOfAParameterRunBeforeItsInPlaceWrite) {
  // The update of w comes first in the graph, so without the write-after-read edge its kernel
  // (root %2) would be scheduled before the reduction (root %3) that reads the old w.
  ir::Graph graph = Parse(R"(graph g {
    %w = parameter() {dtype="f32", init="constant", shape=[4,8], value=0.0} : f32[4,8] name="w"
    %half = constant() {dtype="f32", shape=[], value=0.5} : f32[]
    %w_new = mul(%w, %half) : f32[4,8]
    %norm = reduce_sum(%w) {dims=[0,1], keepdim=0} : f32[]
    outputs { norm = %norm }
    updates { %w <- %w_new }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  int reader = KernelOf(kernels, 3), writer = KernelOf(kernels, 2);
  EXPECT_LT(reader, writer) << DescribeKernels(graph, kernels);
}

TEST(FuseKernelsTest, WithoutAnUpdateTheTieBreakKeepsGraphOrder) {
  // The twin: the same graph with w_new as a plain output has no write-after-read constraint,
  // and the tie-break by root puts the mul (root %2) first.
  ir::Graph graph = Parse(R"(graph g {
    %w = parameter() {dtype="f32", init="constant", shape=[4,8], value=0.0} : f32[4,8] name="w"
    %half = constant() {dtype="f32", shape=[], value=0.5} : f32[]
    %w_new = mul(%w, %half) : f32[4,8]
    %norm = reduce_sum(%w) {dims=[0,1], keepdim=0} : f32[]
    outputs { norm = %norm, w_new = %w_new }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_LT(KernelOf(kernels, 2), KernelOf(kernels, 3));
}

TEST(FuseKernelsTest, ProducersComeBeforeConsumersAcrossReshapeViews) {
  // The reshape is a view with no kernel; the relu kernel must still follow the exp kernel that
  // writes the viewed buffer.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %e = exp(%x) : f32[4,8]
    %r = reshape(%e) {shape=[32]} : f32[32]
    %y = relu(%r) : f32[32]
    outputs { y = %y }
  })");
  std::vector<Kernel> kernels = Fuse(graph);
  ASSERT_EQ(kernels.size(), 2u) << DescribeKernels(graph, kernels);
  EXPECT_EQ(KernelOf(kernels, 2), -1);  // Views get no kernel.
  EXPECT_LT(KernelOf(kernels, 1), KernelOf(kernels, 3));
  EXPECT_EQ(kernels[1].inputs, std::vector<NodeId>{2});
  // The edge runs from the viewed buffer's producer to the reader of the view.
  EXPECT_EQ(UnfusedReason(kernels, 1, 3), "%2 reshape views the producer's buffer");
}

TEST(FuseKernelsTest, ArgmaxIsAReductionKernelWithItsPrologue) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[5,10]} : f32[5,10] name="x"
    %n = neg(%x) : f32[5,10]
    %a = argmax(%n) {dims=[1], keepdim=0} : i64[5]
    outputs { a = %a }
  })");
  EXPECT_EQ(Describe(graph),
            "kernel k0_neg_argmax (reduction, 2 ops)\n"
            "  ops:     %1 neg, %2 argmax\n"
            "  inputs:  %0 input 'x'\n"
            "  outputs: %2 argmax i64[5]\n");
}

}  // namespace
}  // namespace kiln::passes
