// kiln features' capture (CompileOptions::capture, passes::BuildEvalStep): named values become
// extra outputs of the evaluation step, and an ordinary compile stays exactly what it was.
#include <algorithm>
#include <string>
#include <vector>

#include "frontend/frontend.h"
#include "gtest/gtest.h"
#include "ir/printer.h"
#include "passes/training_step.h"
#include "tools/compile_pipeline.h"

namespace kiln::tools {
namespace {

struct Compiled {
  std::vector<std::string> kernels;
  std::string graph;  // The final graph, printed.
  std::vector<std::pair<std::string, ir::NodeId>> outputs;
  ir::Graph final_graph;
};

Compiled CompileEval(const std::vector<std::string>& capture, bool set_options = true) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile("examples/fashion_cnn.kiln");
  EXPECT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  EXPECT_TRUE(train.ok()) << train.status();
  CompileOptions options;
  if (set_options) options.capture = capture;
  absl::StatusOr<ir::KernelProgram> program =
      CompileEntryProgram(*ast, *train, {false, 1}, options);
  EXPECT_TRUE(program.ok()) << program.status();
  Compiled out;
  for (const ir::Kernel& kernel : program->kernels) out.kernels.push_back(kernel.name);
  out.graph = ir::PrintGraph(program->graph);
  out.outputs = program->graph.outputs;
  out.final_graph = program->graph;
  return out;
}

TEST(CaptureCompileTest, OrdinaryEvalStepIsUnchangedByCaptureSupport) {
  const Compiled before = CompileEval({}, /*set_options=*/false);
  const Compiled captured = CompileEval({"c1", "c2"});
  const Compiled after = CompileEval({});
  EXPECT_EQ(before.kernels, after.kernels);
  EXPECT_EQ(before.graph, after.graph);
  for (const auto& [name, node] : before.outputs) {
    EXPECT_EQ(name.rfind(passes::kCaptureOutputPrefix, 0), std::string::npos) << name;
  }
  // The capture compile is the ordinary one plus two outputs (and what computes them).
  EXPECT_EQ(captured.outputs.size(), before.outputs.size() + 2);
  EXPECT_GE(captured.kernels.size(), before.kernels.size());
}

TEST(CaptureCompileTest, CapturedValuesAreOutputsWithTheirShapes) {
  const Compiled captured = CompileEval({"c1", "c2"});
  std::vector<std::string> names;
  for (const auto& [name, node] : captured.outputs) {
    names.push_back(name);
    if (name == "capture:c1") {
      EXPECT_EQ(captured.final_graph.node(node).type.shape, (ir::Shape{1, 32, 14, 14}));
    }
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "capture:c1"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "capture:c2"), names.end());
}

TEST(CaptureCompileTest, UnknownNameIsAnErrorWithASuggestion) {
  absl::StatusOr<frontend::ModelAst> ast = frontend::ParseModelFile("examples/fashion_cnn.kiln");
  ASSERT_TRUE(ast.ok()) << ast.status();
  absl::StatusOr<ir::TrainConfig> train = frontend::LowerTrainConfig(*ast);
  ASSERT_TRUE(train.ok());
  CompileOptions options;
  options.capture = {"c3"};
  absl::StatusOr<ir::KernelProgram> program =
      CompileEntryProgram(*ast, *train, {false, 1}, options);
  ASSERT_FALSE(program.ok());
  EXPECT_EQ(program.status().message(),
            "--capture: the model has no value 'c3', did you mean 'c1'?");
}

}  // namespace
}  // namespace kiln::tools
