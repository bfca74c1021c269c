// Compiles an imported ONNX model's .kiln text with the real pipeline (evaluation step) and runs
// it on given inputs, for the importer's tests and the ONNX conformance test.
//
//   KILN_ASSIGN_OR_RETURN(auto outputs, RunImported(model, {{"x", {1, 2, 3}}}, /*batch=*/1));
//   outputs["y"]  // by ONNX output name
#ifndef KILN_TESTS_INTEROP_RUN_IMPORTED_H_
#define KILN_TESTS_INTEROP_RUN_IMPORTED_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "frontend/frontend.h"
#include "interop/onnx/onnx_importer.h"
#include "interop/onnx/onnx_tensor.h"
#include "passes/training_step.h"
#include "support/status.h"
#include "tools/graph_runner.h"

namespace kiln::interop {

using TensorValuesByName = std::map<std::string, std::vector<double>>;

// `inputs` by ONNX input name; `batch` binds B (unused when the inputs' dims are all numbers).
inline absl::StatusOr<TensorValuesByName> RunImported(const ImportedModel& model,
                                                      const TensorValuesByName& inputs,
                                                      int64_t batch) {
  KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast,
                        frontend::ParseModel(model.source, "imported.kiln"));
  KILN_ASSIGN_OR_RETURN(ir::Graph graph, frontend::LowerModel(ast, {{"B", batch}}));
  for (const auto& [onnx_name, node_name] : model.outputs) {
    const ir::NodeId id = graph.FindByName(node_name);
    if (id == ir::kNoNode) return absl::InternalError(absl::StrCat("no node named ", node_name));
    graph.outputs.emplace_back("out." + onnx_name, id);
  }
  KILN_ASSIGN_OR_RETURN(ir::Graph eval, passes::BuildEvalStep(graph));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<tools::GraphRunner> runner,
                        tools::GraphRunner::Compile(std::move(eval)));
  for (const runtime::CheckpointTensor& weight : model.weights) {
    KILN_RETURN_IF_ERROR(runner->Set(weight.name, TensorValues(weight)));
  }
  for (const auto& [onnx_name, kiln_name] : model.inputs) {
    auto it = inputs.find(onnx_name);
    if (it == inputs.end()) return absl::InvalidArgumentError("no value for input " + onnx_name);
    KILN_RETURN_IF_ERROR(runner->Set(kiln_name, it->second));
  }
  KILN_RETURN_IF_ERROR(runner->Run());
  TensorValuesByName outputs;
  for (const auto& [onnx_name, node_name] : model.outputs) {
    KILN_ASSIGN_OR_RETURN(outputs[onnx_name], runner->Read("out." + onnx_name));
  }
  return outputs;
}

}  // namespace kiln::interop

#endif  // KILN_TESTS_INTEROP_RUN_IMPORTED_H_
