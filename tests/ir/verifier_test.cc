// One test per verifier rule: a valid graph passes, and each kind of corruption is caught with an
// error that names the node and its model source location.
#include "ir/verifier.h"

#include <gtest/gtest.h>

#include "ir/parser.h"
#include "tests/ir/test_graphs.h"

namespace kiln::ir {
namespace {

using testing::BuildMlp;
using testing::BuildPrimitives;

std::string VerifyError(const Graph& graph) {
  absl::Status status = VerifyGraph(graph);
  return status.ok() ? "<ok>" : std::string(status.message());
}

Graph Parse(absl::string_view text) {
  absl::StatusOr<Graph> graph = ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  return graph.ok() ? *std::move(graph) : Graph{};
}

TEST(VerifierTest, AcceptsValidGraphs) {
  EXPECT_TRUE(VerifyGraph(BuildMlp()).ok()) << VerifyGraph(BuildMlp());
  EXPECT_TRUE(VerifyGraph(BuildPrimitives()).ok()) << VerifyGraph(BuildPrimitives());
  EXPECT_TRUE(VerifyGraph(Graph{}).ok());
}

TEST(VerifierTest, ErrorNamesTheNodeQuotesTheSourceAndPointsAtIt) {
  Graph graph = BuildMlp();
  graph.mutable_node(5).op = "relu2";
  EXPECT_EQ(VerifyError(graph),
            "fashion_mlp.kiln:5:7: error: invalid IR: relu2 'h': unknown op 'relu2', did you "
            "mean 'relu'?\n"
            "  in: %5 = relu2(%4) : f32[64,256] name=\"h\" loc=\"fashion_mlp.kiln:5:7\"\n"
            "    h = relu(fc1)\n"
            "        ^");
  EXPECT_EQ(VerifyGraph(graph).code(), absl::StatusCode::kInternal);
}

TEST(VerifierTest, WithoutSourceTextTheLocationStaysOnTheFirstLine) {
  // Parsed (or loaded) graphs know their model file's path but not its text.
  Graph graph = Parse(R"(graph g {
    %0 = input() {dtype="f32", shape=[2]} : f32[2] name="x" loc="m.kiln:3:4"
  })");
  graph.mutable_node(0).op = "inptu";
  EXPECT_EQ(VerifyError(graph),
            "m.kiln:3:4: error: invalid IR: inptu 'x': unknown op 'inptu', did you mean "
            "'input'?\n"
            "  in: %0 = inptu() {dtype=\"f32\", shape=[2]} : f32[2] name=\"x\" loc=\"m.kiln:3:4\"");
}

TEST(VerifierTest, NodeIdMustMatchItsPosition) {
  Graph graph = BuildMlp();
  graph.mutable_node(12).id = 3;
  EXPECT_NE(VerifyError(graph).find("stored at index 12 but has id 3"), std::string::npos)
      << VerifyError(graph);
}

TEST(VerifierTest, OperandCountMustMatchTheOp) {
  Graph graph = BuildMlp();
  graph.mutable_node(5).operands.push_back(0);
  std::string error = VerifyError(graph);
  EXPECT_NE(error.find("relu 'h': takes 1 operands, got 2"), std::string::npos) << error;
  EXPECT_NE(error.find("fashion_mlp.kiln:5:7"), std::string::npos) << error;
}

TEST(VerifierTest, OperandsMustPrecedeTheirUsers) {
  Graph graph = BuildMlp();
  graph.mutable_node(5).operands = {8};
  std::string error = VerifyError(graph);
  EXPECT_NE(error.find("relu 'h': operand %8 does not precede its user"), std::string::npos)
      << error;
  graph.mutable_node(5).operands = {5};  // Itself.
  EXPECT_NE(VerifyError(graph).find("operand %5 does not precede"), std::string::npos);
  graph.mutable_node(5).operands = {-1};
  EXPECT_NE(VerifyError(graph).find("operand %-1 does not precede"), std::string::npos);
}

TEST(VerifierTest, StoredTypeMustEqualTheInferredType) {
  Graph graph = BuildMlp();
  graph.mutable_node(8).type.shape = {64, 11};
  std::string error = VerifyError(graph);
  EXPECT_NE(error.find("linear 'fc2': stored type f32[64,11] but the op infers f32[64,10]"),
            std::string::npos)
      << error;
}

TEST(VerifierTest, NodesMustStillTypeCheck) {
  Graph graph = BuildPrimitives();
  graph.mutable_node(4).attrs.Set("perm", std::vector<int64_t>{0, 0});
  std::string error = VerifyError(graph);
  EXPECT_NE(error.find("transpose: perm [0,0] is not a permutation of the dims of f32[4,5]"),
            std::string::npos)
      << error;
}

TEST(VerifierTest, OutputsMustReferToNodes) {
  Graph graph = BuildMlp();
  graph.outputs.push_back({"acc", 99});
  EXPECT_EQ(VerifyError(graph),
            "error: invalid IR: output 'acc' refers to %99, but the graph has 15 nodes");
}

TEST(VerifierTest, OutputNamesMustBeUniqueAndNonEmpty) {
  Graph graph = BuildMlp();
  graph.outputs.push_back({"loss", 9});
  EXPECT_EQ(VerifyError(graph), "error: invalid IR: output name 'loss' is used twice");
  graph.outputs.back().first = "";
  EXPECT_EQ(VerifyError(graph), "error: invalid IR: output %9 has no name");
}

TEST(VerifierTest, UpdatesMustReferToNodes) {
  Graph graph = BuildMlp();
  graph.updates.push_back({2, 15});
  EXPECT_EQ(VerifyError(graph),
            "error: invalid IR: update %2 <- %15 refers to a node outside the graph (15 nodes)");
}

TEST(VerifierTest, UpdateTargetsMustBePersistentLeaves) {
  Graph graph = Parse(R"(graph g {
    %0 = input() {dtype="f32", shape=[2]} : f32[2] name="x" loc="m.kiln:1:1"
    %1 = relu(%0) : f32[2]
    %2 = constant() {dtype="f32", shape=[2], value=0.0} : f32[2]
    updates { %0 <- %1 }
  })");
  EXPECT_NE(VerifyError(graph).find("m.kiln:1:1: error: invalid IR: input 'x': is updated but is "
                                    "not a persistent leaf"),
            std::string::npos)
      << VerifyError(graph);
  graph.updates = {{1, 0}};  // Not a leaf.
  EXPECT_NE(VerifyError(graph).find("relu: is updated but is not a persistent leaf"),
            std::string::npos);
  graph.updates = {{2, 1}};  // A leaf, but not persistent.
  EXPECT_NE(VerifyError(graph).find("constant: is updated but is not a persistent leaf"),
            std::string::npos);
}

TEST(VerifierTest, UpdateValuesMustHaveTheTargetsType) {
  Graph graph = BuildMlp();
  graph.updates.push_back({6, 8});  // fc2.weight <- fc2's output.
  EXPECT_NE(VerifyError(graph).find("parameter 'fc2.weight': is updated with %8 of type "
                                    "f32[64,10], but has type f32[256,10]"),
            std::string::npos)
      << VerifyError(graph);
}

TEST(VerifierTest, ATargetIsUpdatedAtMostOnce) {
  Graph graph = BuildMlp();
  graph.updates.push_back({11, 12});
  EXPECT_NE(VerifyError(graph).find("state 'step': is updated twice in one step"),
            std::string::npos)
      << VerifyError(graph);
}

TEST(VerifierTest, BoundLeafNamesMustBeUnique) {
  Graph graph = BuildMlp();
  graph.mutable_node(7).name = "fc2.weight";
  EXPECT_NE(VerifyError(graph).find("parameter 'fc2.weight': name 'fc2.weight' is already used by "
                                    "%6"),
            std::string::npos)
      << VerifyError(graph);
  // Non-leaves may share names (a composite's expansion keeps the layer's name).
  graph = BuildMlp();
  graph.mutable_node(8).name = "h";
  EXPECT_TRUE(VerifyGraph(graph).ok());
}

TEST(VerifierTest, BoundLeavesMustBeNamed) {
  Graph graph = BuildMlp();
  graph.mutable_node(1).name = "";
  EXPECT_NE(VerifyError(graph).find("input: has no name to bind it by"), std::string::npos)
      << VerifyError(graph);
  // Constants are computed in kernels and need none.
  EXPECT_TRUE(graph.node(12).name.empty());
}

}  // namespace
}  // namespace kiln::ir
