// The IR text format's printing side, against golden text written by hand.
#include "ir/printer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/graph_builder.h"
#include "tests/ir/test_graphs.h"

namespace kiln::ir {
namespace {

using testing::BuildMlp;
using testing::BuildPrimitives;

constexpr char kMlpText[] = R"(graph fashion_mlp {
  %0 = input() {dtype="f32", shape=[64,784]} : f32[64,784] name="x" loc="fashion_mlp.kiln:2:9"
  %1 = input() {dtype="i64", shape=[64]} : i64[64] name="y" loc="fashion_mlp.kiln:3:9"
  %2 = parameter() {dtype="f32", high=0.0357, init="uniform", low=-0.0357, shape=[784,256]} : f32[784,256] name="fc1.weight" loc="fashion_mlp.kiln:4:3"
  %3 = parameter() {dtype="f32", init="constant", shape=[256], value=0.0} : f32[256] name="fc1.bias" loc="fashion_mlp.kiln:4:3"
  %4 = linear(%0, %2, %3) : f32[64,256] name="fc1" loc="fashion_mlp.kiln:4:9"
  %5 = relu(%4) : f32[64,256] name="h" loc="fashion_mlp.kiln:5:7"
  %6 = parameter() {dtype="f32", high=0.0625, init="uniform", low=-0.0625, shape=[256,10]} : f32[256,10] name="fc2.weight" loc="fashion_mlp.kiln:6:3"
  %7 = parameter() {dtype="f32", init="constant", shape=[10], value=0.0} : f32[10] name="fc2.bias" loc="fashion_mlp.kiln:6:3"
  %8 = linear(%5, %6, %7) : f32[64,10] name="fc2" loc="fashion_mlp.kiln:6:9"
  %9 = log_softmax(%8) {dim=1} : f32[64,10] loc="fashion_mlp.kiln:7:20"
  %10 = nll_loss(%9, %1) {reduction="mean"} : f32[] name="loss" loc="fashion_mlp.kiln:7:10"
  %11 = state() {dtype="f32", shape=[], value=0.0} : f32[] name="step"
  %12 = constant() {dtype="f32", shape=[], value=1.0} : f32[]
  %13 = add(%11, %12) : f32[]
  %14 = mul(%7, %12) : f32[10]
  outputs { loss = %10 }
  updates { %11 <- %13, %7 <- %14 }
}
)";

constexpr char kPrimitivesText[] = R"(graph primitives {
  %0 = input() {dtype="f32", shape=[4,3]} : f32[4,3] name="a"
  %1 = input() {dtype="f32", shape=[5,3]} : f32[5,3] name="b"
  %2 = matmul(%0, %1) {transpose_a=0, transpose_b=1} : f32[4,5]
  %3 = reduce_sum(%2) {dims=[1], keepdim=1} : f32[4,1]
  %4 = transpose(%2) {perm=[1,0]} : f32[5,4]
  %5 = broadcast_to(%3) {shape=[2,4,5]} : f32[2,4,5]
  %6 = iota() {dim=1, dtype="i64", shape=[4,5]} : i64[4,5]
  %7 = cast(%6) {dtype="f32"} : f32[4,5]
  %8 = greater(%7, %2) : f32[4,5]
  %9 = select(%8, %2, %7) : f32[4,5]
  %10 = input() {dtype="i64", shape=[]} : i64[] name="kiln.rng"
  %11 = random_uniform(%10) {salt=3, shape=[4,5]} : f32[4,5]
  %12 = reshape(%9) {shape=[-1]} : f32[20]
  %13 = reduce_max(%4) {dims=[0], keepdim=0} : f32[4]
  %14 = argmax(%4) {dims=[0], keepdim=0} : i64[4]
  %15 = constant() {dtype="f32", shape=[4,5], value=1e-08} : f32[4,5]
  outputs { sum.rows = %3, noise = %11, "flat out" = %12 }
}
)";

TEST(PrinterTest, PrintsMlpGolden) { EXPECT_EQ(PrintGraph(BuildMlp()), kMlpText); }

TEST(PrinterTest, PrintsPrimitivesGolden) {
  EXPECT_EQ(PrintGraph(BuildPrimitives()), kPrimitivesText);
}

TEST(PrinterTest, PrintNodeIsOneLineWithoutIndent) {
  Graph graph = BuildMlp();
  EXPECT_EQ(PrintNode(graph, 5),
            R"(%5 = relu(%4) : f32[64,256] name="h" loc="fashion_mlp.kiln:5:7")");
  EXPECT_EQ(PrintNode(graph, 13), "%13 = add(%11, %12) : f32[]");
}

TEST(PrinterTest, PrintNodeToleratesBadIds) {
  Graph graph = BuildMlp();
  EXPECT_EQ(PrintNode(graph, 99), "<no node %99>");
  EXPECT_EQ(PrintNode(graph, -1), "<no node %-1>");
  graph.mutable_node(5).operands = {42};  // Never followed.
  EXPECT_EQ(PrintNode(graph, 5).substr(0, 14), "%5 = relu(%42)");
}

TEST(PrinterTest, EmptyGraph) {
  Graph graph;
  EXPECT_EQ(PrintGraph(graph), "graph \"\" {\n}\n");
}

TEST(PrinterTest, NamesAndStringsAreEscaped) {
  Graph graph;
  graph.name = "my graph";
  GraphBuilder b(graph);
  b.Input("say \"hi\"\n", {DType::kF32, {1}});
  ASSERT_TRUE(b.status().ok()) << b.status();
  EXPECT_EQ(PrintGraph(graph),
            "graph \"my graph\" {\n"
            "  %0 = input() {dtype=\"f32\", shape=[1]} : f32[1] name=\"say \\\"hi\\\"\\n\"\n"
            "}\n");
}

TEST(PrinterTest, DoublesAreShortestAndNeverLookLikeIntegers) {
  EXPECT_EQ(FormatDouble(0.0), "0.0");
  EXPECT_EQ(FormatDouble(-0.0), "-0.0");
  EXPECT_EQ(FormatDouble(1.0), "1.0");
  EXPECT_EQ(FormatDouble(-3.0), "-3.0");
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(0.0357), "0.0357");
  EXPECT_EQ(FormatDouble(1e-8), "1e-08");
  EXPECT_EQ(FormatDouble(1e300), "1e+300");
  EXPECT_EQ(FormatDouble(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(FormatDouble(std::nan("")), "nan");
}

TEST(PrinterTest, FormatNameQuotesNonIdentifiers) {
  EXPECT_EQ(FormatName("fc1.weight"), "fc1.weight");
  EXPECT_EQ(FormatName("_x2"), "_x2");
  EXPECT_EQ(FormatName("2x"), "\"2x\"");
  EXPECT_EQ(FormatName(""), "\"\"");
  EXPECT_EQ(FormatName("a-b"), "\"a-b\"");
}

}  // namespace
}  // namespace kiln::ir
