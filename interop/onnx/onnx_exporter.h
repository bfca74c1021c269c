// kiln export: a model's evaluation graph (forward pass, evaluation mode: dropout off, batch norm
// on its running statistics) with trained weights as an ONNX model.
//
//   KILN_ASSIGN_OR_RETURN(frontend::ModelAst ast, frontend::ParseModelFile("mlp.kiln"));
//   KILN_ASSIGN_OR_RETURN(runtime::Checkpoint ckpt, runtime::ReadCheckpoint("mlp.ckpt"));
//   KILN_ASSIGN_OR_RETURN(ExportedModel onnx, ExportOnnx(ast, ckpt.tensors, {.opset = 17}));
//   onnx.model.SerializeAsString()  // inputs x: [N, 784]; output: the loss's prediction operand
//
// The graph's output is what the model's loss compares with the target (its first operand:
// logits, log-probabilities or the regression value), named after that value. Parameters and
// batch-norm statistics become initializers under their kiln names (fc1.weight). The batch dim is
// the symbol N when the graph computes the same thing at every batch size (checked by exporting
// at two sizes and comparing); otherwise the model is written for `fixed_batch`.
#ifndef KILN_INTEROP_ONNX_ONNX_EXPORTER_H_
#define KILN_INTEROP_ONNX_ONNX_EXPORTER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/frontend.h"
#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::interop {

struct ExportOptions {
  int64_t opset = 17;        // 13 to 21.
  int64_t fixed_batch = 1;   // The batch size of a model whose batch dim cannot be symbolic.
};

struct ExportedModel {
  onnx::ModelProto model;
  bool symbolic_batch = false;
};

absl::StatusOr<ExportedModel> ExportOnnx(const frontend::ModelAst& ast,
                                         const std::vector<runtime::CheckpointTensor>& weights,
                                         const ExportOptions& options);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_ONNX_EXPORTER_H_
