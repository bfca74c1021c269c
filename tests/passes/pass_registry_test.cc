// The pass registry: one entry per name, each buildable, unknown names answered with the list
// of known ones, and analyses that report without changing the graph.
#include "passes/pass_registry.h"

#include <set>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "ir/printer.h"
#include "tests/passes/pass_test_util.h"

namespace kiln::passes {
namespace {

using testing::Parse;

TEST(PassRegistryTest, NamesAreUniqueAndEveryPassIsDescribedAndBuildable) {
  std::set<std::string> names;
  for (const RegisteredPass& pass : RegisteredPasses()) {
    EXPECT_TRUE(names.insert(std::string(pass.name)).second) << "twice: " << pass.name;
    EXPECT_FALSE(pass.description.empty()) << pass.name;
    EXPECT_EQ(FindRegisteredPass(pass.name), &pass);
    EXPECT_TRUE(pass.make(PassContext{})) << pass.name;
  }
  for (const char* name : {"fold-constants", "cse", "dce", "simplify", "expand-composites",
                           "autodiff", "fuse", "plan-memory"}) {
    EXPECT_NE(FindRegisteredPass(name), nullptr) << name;
  }
  for (const char* name : kSimplifyPasses) EXPECT_NE(FindRegisteredPass(name), nullptr) << name;
}

TEST(PassRegistryTest, AnUnknownNameListsTheKnownOnes) {
  PassPipeline pipeline;
  absl::Status status = AddRegisteredPass(pipeline, "fold");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "unknown pass 'fold'; known passes: ")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "cse, dce, simplify")) << status;
  EXPECT_TRUE(pipeline.pass_names().empty());
}

TEST(PassRegistryTest, AnalysesReportAfterAHeaderAndLeaveTheGraphAlone) {
  constexpr char kText[] = R"(graph g {
    %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
    %r = relu(%x) : f32[2,3] name="r"
    outputs { r = %r }
  })";
  ir::Graph graph = Parse(kText);
  const std::string before = ir::PrintGraph(graph);
  std::string reports;
  PassPipeline pipeline;
  ASSERT_TRUE(AddRegisteredPass(pipeline, "fuse", {.reports = &reports}).ok());
  ASSERT_TRUE(AddRegisteredPass(pipeline, "plan-memory", {.reports = &reports}).ok());
  ASSERT_TRUE(pipeline.Run(graph).ok());
  EXPECT_EQ(ir::PrintGraph(graph), before);
  EXPECT_TRUE(absl::StartsWith(reports, "// fuse\nkernel k0_relu (loop, 1 ops)\n")) << reports;
  EXPECT_TRUE(absl::StrContains(reports, "\n// plan-memory\nbuffer 0 output \"r\" f32[2,3]"))
      << reports;
}

}  // namespace
}  // namespace kiln::passes
