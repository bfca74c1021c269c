// The training step of a model file's text (model and train section), compiled by the real
// pipeline and CPU backend, for the parity tests that run it step by step against PyTorch:
//
//   KILN_ASSIGN_OR_RETURN(golden::CompiledStep step,
//                         golden::CompileTrainingStep(text, "case.kiln", /*batch=*/16));
//   step.runner->Set("x", batch); step.runner->Run(); step.runner->Read("loss");
#ifndef KILN_TESTS_GOLDEN_COMPILE_STEP_H_
#define KILN_TESTS_GOLDEN_COMPILE_STEP_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "frontend/frontend.h"
#include "passes/training_step.h"
#include "support/status.h"
#include "tools/graph_runner.h"

namespace kiln::golden {

struct CompiledStep {
  ir::TrainConfig train;  // The train section (optimizer settings, batch size, ...).
  std::unique_ptr<tools::GraphRunner> runner;
};

// `batch` sizes the model's batch dimension; without it, the train section's batch_size.
inline absl::StatusOr<CompiledStep> CompileTrainingStep(
    const std::string& text, const std::string& file_name,
    std::optional<int64_t> batch = std::nullopt) {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModel(text, file_name));
  CompiledStep compiled;
  KILN_ASSIGN_OR_RETURN(compiled.train, frontend::LowerTrainConfig(ast));
  const int64_t size = batch.value_or(compiled.train.batch_size);
  KILN_ASSIGN_OR_RETURN(ir::Graph model,
                        frontend::LowerModel(ast, {{frontend::BatchDimName(ast), size}}));
  KILN_ASSIGN_OR_RETURN(ir::Graph step, passes::BuildTrainingStep(model, compiled.train));
  KILN_ASSIGN_OR_RETURN(compiled.runner, tools::GraphRunner::Compile(std::move(step)));
  return compiled;
}

}  // namespace kiln::golden

#endif  // KILN_TESTS_GOLDEN_COMPILE_STEP_H_
