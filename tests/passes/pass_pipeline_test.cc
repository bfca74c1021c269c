// PassPipeline: verification blames the right pass, passes can be disabled by name, dumps show
// the graph after each pass; Simplify reaches a fixed point.
#include "passes/pass_pipeline.h"

#include <sstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "passes/constant_folding.h"
#include "passes/dead_code_elimination.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Canonical;
using testing::Parse;

constexpr char kSmallGraph[] = R"(graph g {
  %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
  %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
  %a = mul(%x, %one) : f32[2]
  %y = relu(%a) : f32[2]
  outputs { y = %y }
})";

// Breaks the graph: the relu now claims a type its shape rule does not give.
absl::StatusOr<bool> CorruptTypes(ir::Graph& graph) {
  graph.mutable_node(graph.Output("y")).type.shape = {3};
  return true;
}

absl::StatusOr<bool> DoNothing(ir::Graph&) { return false; }

TEST(PassPipelineTest, VerificationNamesThePassThatBrokeTheGraph) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline("test");
  pipeline.Add("nothing", DoNothing);
  pipeline.Add("corrupt-types", CorruptTypes);
  pipeline.Add("dce", EliminateDeadCode);
  absl::Status status = pipeline.Run(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "after pass 'corrupt-types'")) << status;
  EXPECT_FALSE(absl::StrContains(status.message(), "'nothing'")) << status;
}

TEST(PassPipelineTest, WithoutVerificationTheCorruptionGoesUnnoticed) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  pipeline.Add("corrupt-types", CorruptTypes);
  pipeline.set_verify(false);
  EXPECT_TRUE(pipeline.Run(graph).ok());
}

TEST(PassPipelineTest, ErrorsFromAPassNameIt) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline("opt");
  pipeline.Add("fails", [](ir::Graph&) -> absl::StatusOr<bool> {
    return absl::UnimplementedError("no can do");
  });
  absl::Status status = pipeline.Run(graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(absl::StrContains(status.message(), "pipeline 'opt': pass 'fails' failed: no can do"))
      << status;
}

TEST(PassPipelineTest, RejectsAnInvalidInputGraph) {
  ir::Graph graph = Parse(kSmallGraph);
  CorruptTypes(graph).IgnoreError();
  PassPipeline pipeline;
  int runs = 0;
  pipeline.Add("count", [&runs](ir::Graph&) -> absl::StatusOr<bool> {
    ++runs;
    return false;
  });
  absl::Status status = pipeline.Run(graph);
  EXPECT_TRUE(absl::StrContains(status.message(), "invalid graph on input")) << status;
  EXPECT_EQ(runs, 0);
}

TEST(PassPipelineTest, DisabledPassesDoNotRun) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  std::vector<std::string> ran;
  auto record = [&ran](std::string name) {
    return [&ran, name](ir::Graph&) -> absl::StatusOr<bool> {
      ran.push_back(name);
      return false;
    };
  };
  pipeline.Add("first", record("first"));
  pipeline.Add("corrupt-types", CorruptTypes);
  pipeline.Add("last", record("last"));
  pipeline.Disable("corrupt-types");
  ASSERT_TRUE(pipeline.Run(graph).ok());
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "last"}));
}

TEST(PassPipelineTest, DisablingAnUnknownPassIsAnError) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  pipeline.Add("fold-constants", FoldConstants);
  pipeline.Disable("fold-constant");
  absl::Status status = pipeline.Run(graph);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "unknown pass 'fold-constant'")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "fold-constants")) << status;
}

TEST(PassPipelineTest, DumpsTheGraphAfterEachPass) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  pipeline.Add("fold", FoldConstants);
  pipeline.Add("dce", EliminateDeadCode);
  std::ostringstream dump;
  pipeline.set_dump(&dump);
  ASSERT_TRUE(pipeline.Run(graph).ok());
  ir::Graph folded = Parse(kSmallGraph);
  ASSERT_TRUE(FoldConstants(folded).ok());
  std::string expected =
      "// after fold\n" + ir::PrintGraph(folded) + "// after dce\n" + Canonical(R"(graph g {
                           %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
                           %y = relu(%x) : f32[2]
                           outputs { y = %y }
                         })");
  EXPECT_EQ(dump.str(), expected);
}

TEST(SimplifyTest, FoldsMergesAndCleansToAFixedPoint) {
  // Each (2+3) folds to 5; CSE merges the two fives only after folding, so the two muls merge only
  // in a second round, and DCE then leaves one mul.
  ir::Graph graph = Parse(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %two = constant() {dtype="f32", shape=[], value=2.0} : f32[]
    %three = constant() {dtype="f32", shape=[], value=3.0} : f32[]
    %one = constant() {dtype="f32", shape=[], value=1.0} : f32[]
    %s1 = add(%two, %three) : f32[]
    %t = add(%three, %two) : f32[]
    %m1 = mul(%x, %s1) : f32[2]
    %m2 = mul(%x, %t) : f32[2]
    %m2b = mul(%m2, %one) : f32[2]
    %sum = add(%m1, %m2b) : f32[2]
    %unused = exp(%x) : f32[2]
    outputs { y = %sum }
  })");
  absl::StatusOr<bool> changed = Simplify(graph);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(ir::PrintGraph(graph), Canonical(R"(graph g {
    %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
    %five = constant() {dtype="f32", shape=[], value=5.0} : f32[]
    %m1 = mul(%x, %five) : f32[2]
    %sum = add(%m1, %m1) : f32[2]
    outputs { y = %sum }
  })"));
  absl::StatusOr<bool> again = Simplify(graph);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST(PassPipelineTest, RunToFixedPointRepeatsUntilARoundChangesNothing) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  int runs = 0;
  pipeline.Add("changes-twice",
               [&runs](ir::Graph&) -> absl::StatusOr<bool> { return ++runs <= 2; });
  absl::StatusOr<bool> changed = pipeline.RunToFixedPoint(graph, /*max_rounds=*/8);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  EXPECT_EQ(runs, 3);  // Two rounds that change, one that confirms nothing does.
}

TEST(PassPipelineTest, RunToFixedPointStopsAfterMaxRounds) {
  ir::Graph graph = Parse(kSmallGraph);
  PassPipeline pipeline;
  int runs = 0;
  pipeline.Add("always-changes", [&runs](ir::Graph&) -> absl::StatusOr<bool> {
    ++runs;
    return true;
  });
  absl::StatusOr<bool> changed = pipeline.RunToFixedPoint(graph, /*max_rounds=*/4);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(runs, 4);
}

constexpr char kTwoEqualProducts[] = R"(graph g {
  %x = input() {dtype="f32", shape=[2]} : f32[2] name="x"
  %five = constant() {dtype="f32", shape=[], value=5.0} : f32[]
  %m1 = mul(%x, %five) : f32[2]
  %m2 = mul(%x, %five) : f32[2]
  %sum = add(%m1, %m2) : f32[2]
  outputs { y = %sum }
})";

int CountOps(const ir::Graph& graph, const std::string& op) {
  int count = 0;
  for (const ir::Node& node : graph.nodes()) count += node.op == op;
  return count;
}

TEST(SimplifyTest, DisabledPassesAreSkippedByName) {
  ir::Graph merged = Parse(kTwoEqualProducts);
  ASSERT_TRUE(Simplify(merged).ok());
  EXPECT_EQ(CountOps(merged, "mul"), 1);

  ir::Graph kept = Parse(kTwoEqualProducts);
  absl::StatusOr<bool> changed = Simplify(kept, {.disabled = {"cse"}});
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
  EXPECT_EQ(CountOps(kept, "mul"), 2);
}

TEST(SimplifyTest, DisablingAPassItDoesNotRunIsAnError) {
  ir::Graph graph = Parse(kTwoEqualProducts);
  absl::Status status = Simplify(graph, {.disabled = {"fuse"}}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(),
                                "pipeline 'simplify': cannot disable unknown "
                                "pass 'fuse'"))
      << status;
}

TEST(SimplifyTest, DumpsEveryPassOfEveryRound) {
  ir::Graph graph = Parse(kTwoEqualProducts);
  std::ostringstream dump;
  ASSERT_TRUE(Simplify(graph, {.dump = &dump}).ok());
  // Round 1 merges the muls, round 2 changes nothing: two rounds of six passes.
  const std::string text = dump.str();
  EXPECT_TRUE(absl::StartsWith(text, "// after convolve-input-gradients\ngraph g {")) << text;
  int dumps = 0;
  for (size_t at = text.find("// after "); at != std::string::npos;
       at = text.find("// after ", at + 1)) {
    ++dumps;
  }
  EXPECT_EQ(dumps, 12) << text;
}

}  // namespace
}  // namespace kiln::passes
