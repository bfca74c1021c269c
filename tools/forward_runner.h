// Runs a model's forward graph in evaluation mode on given tensors, for `kiln run`: a .kiln model
// with a checkpoint, or an ONNX model (imported with kiln import's converter, its initializers
// as the weights). Compiled with the same passes and CPU backend as training.
//
//   KILN_ASSIGN_OR_RETURN(ForwardModel model, ForwardModel::Load("mlp.onnx", ""));
//   KILN_ASSIGN_OR_RETURN(std::vector<NamedTensor> outputs, model.Run({{"x", x}}));
#ifndef KILN_TOOLS_FORWARD_RUNNER_H_
#define KILN_TOOLS_FORWARD_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::tools {

// A named host tensor: shape and type of a checkpoint tensor, values as bytes.
using NamedTensor = runtime::CheckpointTensor;

class ForwardModel {
 public:
  // `weights_path` (a kiln checkpoint) replaces the model's weights by name; required for .kiln.
  static absl::StatusOr<ForwardModel> Load(const std::string& path,
                                           const std::string& weights_path);

  // The inputs Run needs, in the model's order (ONNX: graph inputs without an initializer).
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }

  // `inputs` by name; the batch size is the first input's first dim. Outputs in model order.
  absl::StatusOr<std::vector<NamedTensor>> Run(const std::vector<NamedTensor>& inputs) const;

 private:
  absl::StatusOr<std::vector<NamedTensor>> RunKiln(const std::vector<NamedTensor>& inputs) const;
  absl::StatusOr<std::vector<NamedTensor>> RunOnnx(const std::vector<NamedTensor>& inputs) const;

  std::string path_;
  bool onnx_ = false;
  onnx::ModelProto onnx_model_;
  std::string kiln_source_;
  std::vector<runtime::CheckpointTensor> weights_;  // Replacing the model's own, by name.
  std::vector<std::string> input_names_;
  std::vector<std::string> output_names_;
};

// ONNX's test-runner comparison: |actual - expected| <= atol + rtol * |expected| everywhere
// (NaN matches NaN); "" on a match, else what differs first.
std::string CompareTensors(const NamedTensor& actual, const NamedTensor& expected,
                           double rtol = 1e-3, double atol = 1e-7);

// The tensor as an ONNX TensorProto (raw data).
onnx::TensorProto ToOnnxTensor(const NamedTensor& tensor);

}  // namespace kiln::tools

#endif  // KILN_TOOLS_FORWARD_RUNNER_H_
