// kiln import: an ONNX model (IR version 3 and up, default-domain opsets 9-21) becomes a readable
// .kiln model file and a weights file for --init-weights.
//
//   KILN_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile("mlp.onnx"));
//   KILN_ASSIGN_OR_RETURN(ImportedModel model, ImportOnnx(bytes, {.model_name = "mlp",
//                                                                .weights_path = "mlp.kckpt"}));
//   model.source     // "model mlp {\n  input x: f32[B, 784]\n  param fc1.weight: ..."
//   model.weights    // fc1.weight, fc1.bias, ... (ONNX initializer names, made kiln names)
//
// Parameters keep their initializer names (so a PyTorch state_dict's names survive; a part that
// is not a kiln name, like the 0 of layer1.0.weight, is joined to the one before: layer1_0.weight),
// in ONNX's layouts. Nodes become one statement each in topological order. The first graph
// input's symbolic first dim is the batch dim B. The model binds a placeholder `loss` and the file
// ends with a train section stub, both for the user to edit. Errors are one line; an op kiln
// cannot express names the op, the node and the opset.
#ifndef KILN_INTEROP_ONNX_ONNX_IMPORTER_H_
#define KILN_INTEROP_ONNX_ONNX_IMPORTER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::interop {

struct ImportOptions {
  std::string model_name = "imported";
  // Named in the generated train section (init_weights = "..."); empty: not named.
  std::string weights_path;
  std::string source_name = "model.onnx";  // For the header comment.
};

struct ImportedModel {
  std::string source;  // The .kiln file.
  std::vector<runtime::CheckpointTensor> weights;
  // Each ONNX graph output and the kiln node name holding its value (after aliases).
  std::vector<std::pair<std::string, std::string>> outputs;
  // Each ONNX graph input and its kiln input name.
  std::vector<std::pair<std::string, std::string>> inputs;
};

absl::StatusOr<ImportedModel> ImportOnnxModel(const onnx::ModelProto& model,
                                              const ImportOptions& options);
// Parses the serialized ModelProto first; bad bytes are "not an ONNX model (...)".
absl::StatusOr<ImportedModel> ImportOnnx(const std::string& bytes, const ImportOptions& options);

// The checkpoint holding `weights` (runtime/checkpoint.h's format, version 2, epoch 0).
std::string EncodeWeights(const std::string& model_name,
                          const std::vector<runtime::CheckpointTensor>& weights);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_ONNX_IMPORTER_H_
