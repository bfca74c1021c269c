// ExpandComposites: IR text in, the primitive form out. Composites expand in place (so the
// graph stays topologically ordered), keep their user-visible name on the node that replaces
// them, and dropout depends on the mode. The values of the expansions are checked by the
// gradient check in tests/codegen/cpu.
#include "passes/expand_composites.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ir/op_registry.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::RunPass;

absl::StatusOr<bool> ExpandForTraining(ir::Graph& graph) { return ExpandComposites(graph, true); }
absl::StatusOr<bool> ExpandForEval(ir::Graph& graph) { return ExpandComposites(graph, false); }

bool HasComposite(const ir::Graph& graph) {
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).Has(ir::kComposite)) return true;
  }
  return false;
}

TEST(ExpandCompositesTest, LinearOnRank3InputFlattensAroundTheGemm) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3,4]} : f32[2,3,4] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[4,5], value=0.0} : f32[4,5] name="fc.weight"
    %b = parameter() {dtype="f32", init="constant", shape=[5], value=0.0} : f32[5] name="fc.bias"
    %y = linear(%x, %w, %b) : f32[2,3,5] name="fc" loc="m.kiln:4:7"
    outputs { y = %y }
  })");
  EXPECT_EQ(RunPass(ExpandForTraining, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3,4]} : f32[2,3,4] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[4,5], value=0.0} : f32[4,5] name="fc.weight"
    %b = parameter() {dtype="f32", init="constant", shape=[5], value=0.0} : f32[5] name="fc.bias"
    %flat = reshape(%x) {shape=[-1,4]} : f32[6,4] loc="m.kiln:4:7"
    %mm = matmul(%flat, %w) {transpose_a=0, transpose_b=0} : f32[6,5] loc="m.kiln:4:7"
    %biased = add(%mm, %b) : f32[6,5] loc="m.kiln:4:7"
    %y = reshape(%biased) {shape=[2,3,5]} : f32[2,3,5] name="fc" loc="m.kiln:4:7"
    outputs { y = %y }
  })"));
}

TEST(ExpandCompositesTest, LinearWithoutBiasOnRank2InputIsOneMatmul) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[4,5], value=0.0} : f32[4,5] name="w"
    %y = linear(%x, %w) : f32[8,5] name="fc"
    outputs { y = %y }
  })");
  EXPECT_EQ(RunPass(ExpandForEval, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[8,4]} : f32[8,4] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[4,5], value=0.0} : f32[4,5] name="w"
    %y = matmul(%x, %w) {transpose_a=0, transpose_b=0} : f32[8,5] name="fc"
    outputs { y = %y }
  })"));
}

TEST(ExpandCompositesTest, LogSoftmaxSubtractsAStoppedMaxAndTheLogSumExp) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,10]} : f32[4,10] name="x"
    %y = log_softmax(%x) {dim=1} : f32[4,10] name="logp"
    outputs { y = %y }
  })");
  EXPECT_EQ(RunPass(ExpandForEval, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[4,10]} : f32[4,10] name="x"
    %max = reduce_max(%x) {dims=[1], keepdim=1} : f32[4,1]
    %stop = stop_gradient(%max) : f32[4,1]
    %s = sub(%x, %stop) : f32[4,10]
    %e = exp(%s) : f32[4,10]
    %sum = reduce_sum(%e) {dims=[1], keepdim=1} : f32[4,1]
    %lse = log(%sum) : f32[4,1]
    %y = sub(%s, %lse) : f32[4,10] name="logp"
    outputs { y = %y }
  })"));
}

TEST(ExpandCompositesTest, ReduceMeanDividesTheSumByTheCount) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[3,4,5]} : f32[3,4,5] name="x"
    %m = reduce_mean(%x) {dims=[0,-1], keepdim=1} : f32[1,4,1] name="m"
    outputs { m = %m }
  })");
  EXPECT_EQ(RunPass(ExpandForEval, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[3,4,5]} : f32[3,4,5] name="x"
    %sum = reduce_sum(%x) {dims=[0,-1], keepdim=1} : f32[1,4,1]
    %count = constant() {dtype="f32", shape=[], value=15.0} : f32[]
    %m = div(%sum, %count) : f32[1,4,1] name="m"
    outputs { m = %m }
  })"));
}

TEST(ExpandCompositesTest, NllLossWithClassWeightsDividesByTheTargetsWeights) {
  ir::Graph graph = Parse(R"(graph g {
    %logp = input() {dtype="f32", shape=[4,3]} : f32[4,3] name="logp"
    %t = input() {dtype="i64", shape=[4]} : i64[4] name="t"
    %w = input() {dtype="f32", shape=[3]} : f32[3] name="w"
    %loss = nll_loss(%logp, %t, %w) {reduction="mean"} : f32[] name="loss"
    outputs { loss = %loss }
  })");
  EXPECT_EQ(RunPass(ExpandForEval, graph, true), Canonical(R"(graph g {
    %logp = input() {dtype="f32", shape=[4,3]} : f32[4,3] name="logp"
    %t = input() {dtype="i64", shape=[4]} : i64[4] name="t"
    %w = input() {dtype="f32", shape=[3]} : f32[3] name="w"
    %t2 = reshape(%t) {shape=[4,1]} : i64[4,1]
    %iota = iota() {dim=1, dtype="i64", shape=[4,3]} : i64[4,3]
    %one_hot = equal(%t2, %iota) : f32[4,3]
    %sample_w = mul(%one_hot, %w) : f32[4,3]
    %picked = mul(%logp, %sample_w) : f32[4,3]
    %sum = reduce_sum(%picked) {dims=[0,1], keepdim=0} : f32[]
    %total = neg(%sum) : f32[]
    %denom = reduce_sum(%sample_w) {dims=[0,1], keepdim=0} : f32[]
    %loss = div(%total, %denom) : f32[] name="loss"
    outputs { loss = %loss }
  })"));
}

TEST(ExpandCompositesTest, DropoutIsTheIdentityWhenEvaluating) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %d = dropout(%x) {p=0.25} : f32[4,8] name="drop"
    %y = relu(%d) : f32[4,8]
    outputs { y = %y }
  })");
  // The leaf keeps its own name: a composite's name never renames a leaf.
  EXPECT_EQ(RunPass(ExpandForEval, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %y = relu(%x) : f32[4,8]
    outputs { y = %y }
  })"));
}

TEST(ExpandCompositesTest, DropoutMasksAndRescalesWhenTraining) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %d = dropout(%x) {p=0.25} : f32[4,8] name="drop"
    outputs { y = %d }
  })");
  // The stream's salt is the dropout's node id (1), stable between training and evaluation.
  EXPECT_EQ(RunPass(ExpandForTraining, graph, true), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[4,8]} : f32[4,8] name="x"
    %key = input() {dtype="i64", shape=[]} : i64[] name="kiln.rng"
    %u = random_uniform(%key) {salt=1, shape=[4,8]} : f32[4,8]
    %p = constant() {dtype="f32", shape=[], value=0.25} : f32[]
    %keep = greater_equal(%u, %p) : f32[4,8]
    %scale = constant() {dtype="f32", shape=[], value=1.3333333333333333} : f32[]
    %mask = mul(%keep, %scale) : f32[4,8]
    %d = mul(%x, %mask) : f32[4,8] name="drop"
    outputs { y = %d }
  })"));
}

TEST(ExpandCompositesTest, TwoDropoutsShareOneKeyWithDifferentSalts) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[16]} : f32[16] name="x"
    %a = dropout(%x) {p=0.5} : f32[16]
    %b = dropout(%a) {p=0.5} : f32[16]
    outputs { y = %b }
  })");
  RunPass(ExpandForTraining, graph, true);
  int keys = 0;
  std::vector<int64_t> salts;
  for (const ir::Node& node : graph.nodes()) {
    if (node.op == "input" && node.name == "kiln.rng") ++keys;
    if (node.op == "random_uniform") salts.push_back(node.attrs.GetInt("salt"));
  }
  EXPECT_EQ(keys, 1);
  EXPECT_EQ(salts, (std::vector<int64_t>{1, 2}));
}

TEST(ExpandCompositesTest, EveryCompositeExpandsToPrimitivesOnly) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2,3,4]} : f32[2,3,4] name="x"
    %t = input() {dtype="i64", shape=[2]} : i64[2] name="t"
    %w = parameter() {dtype="f32", init="constant", shape=[12,5], value=0.0} : f32[12,5] name="w"
    %f = flatten(%x) {start_dim=1} : f32[2,12]
    %d = dropout(%f) {p=0.5} : f32[2,12]
    %l = linear(%d, %w) : f32[2,5]
    %s = softmax(%l) {dim=-1} : f32[2,5]
    %ls = log_softmax(%s) {dim=1} : f32[2,5]
    %n = nll_loss(%ls, %t) {reduction="sum"} : f32[]
    %c = cross_entropy(%l, %t) {reduction="none"} : f32[2]
    %m = reduce_mean(%c) {dims=[0], keepdim=0} : f32[]
    %loss = add(%n, %m) : f32[] name="loss"
    outputs { loss = %loss }
  })");
  ir::Graph eval = graph;
  RunPass(ExpandForTraining, graph, true);
  RunPass(ExpandForEval, eval, true);
  EXPECT_FALSE(HasComposite(graph)) << ir::PrintGraph(graph);
  EXPECT_FALSE(HasComposite(eval)) << ir::PrintGraph(eval);
  EXPECT_EQ(graph.node(graph.Output("loss")).name, "loss");
  EXPECT_EQ(eval.node(eval.Output("loss")).name, "loss");
}

// A 2x2 map under a 3x3 kernel, four images: per output position one GEMM against the taps that
// reach the input from there (channels innermost), joined on their results; no im2col.
TEST(ExpandCompositesTest, Conv2dOnAMapSmallerThanItsKernelIsAGemmPerOutputPosition) {
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[4,2,2,2]} : f32[4,2,2,2] name="x"
    %w = parameter() {dtype="f32", init="constant", shape=[3,2,3,3], value=0.0} : f32[3,2,3,3] name="w"
    %y = conv2d(%x, %w) {padding=1} : f32[4,3,2,2] name="conv"
    outputs { y = %y }
  })");
  EXPECT_EQ(RunPass(ExpandForTraining, graph, true), Canonical(R"(graph g {
    %0 = input() {dtype="f32", shape=[4,2,2,2]} : f32[4,2,2,2] name="x"
    %1 = parameter() {dtype="f32", init="constant", shape=[3,2,3,3], value=0.0} : f32[3,2,3,3] name="w"
    %2 = transpose(%1) {perm=[0,2,3,1]} : f32[3,3,3,2]
    %3 = slice(%2) {starts=[0,1,1,0], steps=[1,1,1,1], stops=[3,3,3,2]} : f32[3,2,2,2]
    %4 = reshape(%3) {shape=[3,8]} : f32[3,8]
    %5 = slice(%2) {starts=[0,1,0,0], steps=[1,1,1,1], stops=[3,3,2,2]} : f32[3,2,2,2]
    %6 = reshape(%5) {shape=[3,8]} : f32[3,8]
    %7 = slice(%2) {starts=[0,0,1,0], steps=[1,1,1,1], stops=[3,2,3,2]} : f32[3,2,2,2]
    %8 = reshape(%7) {shape=[3,8]} : f32[3,8]
    %9 = slice(%2) {starts=[0,0,0,0], steps=[1,1,1,1], stops=[3,2,2,2]} : f32[3,2,2,2]
    %10 = reshape(%9) {shape=[3,8]} : f32[3,8]
    %11 = transpose(%0) {perm=[0,2,3,1]} : f32[4,2,2,2]
    %12 = reshape(%11) {shape=[4,8]} : f32[4,8]
    %13 = matmul(%12, %4) {transpose_a=0, transpose_b=1} : f32[4,3]
    %14 = matmul(%12, %6) {transpose_a=0, transpose_b=1} : f32[4,3]
    %15 = matmul(%12, %8) {transpose_a=0, transpose_b=1} : f32[4,3]
    %16 = matmul(%12, %10) {transpose_a=0, transpose_b=1} : f32[4,3]
    %17 = concat(%13, %14, %15, %16) {dim=1} : f32[4,12]
    %18 = reshape(%17) {shape=[16,3]} : f32[16,3]
    %19 = reshape(%18) {shape=[4,2,2,3]} : f32[4,2,2,3]
    %20 = transpose(%19) {perm=[0,3,1,2]} : f32[4,3,2,2] name="conv"
    outputs { y = %20 }
  })"));
}

int CountOps(const ir::Graph& graph, const std::string& op) {
  int count = 0;
  for (const ir::Node& node : graph.nodes()) count += node.op.name() == op;
  return count;
}

// Im2col + GEMM where the map has as many positions as the kernel has taps (3x3), and where one
// image would not pay for building the dense weights (2x2, batch 1).
TEST(ExpandCompositesTest, Conv2dUsesIm2colOnLargerMapsAndSmallBatches) {
  struct Case {
    const char* input;
    const char* output;
  };
  for (const Case& c : {Case{"4,2,3,3", "4,3,3,3"}, Case{"1,2,2,2", "1,3,2,2"}}) {
    SCOPED_TRACE(c.input);
    ir::Graph graph = Parse(absl::StrCat(R"(graph g {
      %x = input() {dtype="f32", shape=[)", c.input, "]} : f32[", c.input, R"(] name="x"
      %w = parameter() {dtype="f32", init="constant", shape=[3,2,3,3], value=0.0} : f32[3,2,3,3] name="w"
      %y = conv2d(%x, %w) {padding=1} : f32[)", c.output, R"(] name="conv"
      outputs { y = %y }
    })"));
    RunPass(ExpandForTraining, graph, true);
    EXPECT_EQ(CountOps(graph, "im2col"), 1) << ir::PrintGraph(graph);
  }
}

TEST(ExpandCompositesTest, GraphWithoutCompositesIsLeftAlone) {
  const char* text = R"(graph g {
    %x = input() {dtype="f32", shape=[4]} : f32[4] name="x"
    %y = relu(%x) : f32[4]
    outputs { y = %y }
  })";
  ir::Graph graph = Parse(text);
  EXPECT_EQ(RunPass(ExpandForTraining, graph, false), Canonical(text));
}

}  // namespace
}  // namespace kiln::passes
