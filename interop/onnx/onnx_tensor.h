// ONNX TensorProto -> kiln's named host tensor (runtime::CheckpointTensor), checked: a hostile
// file's negative or huge dims, short data or unsupported element type is a one-line error, never
// an allocation the file asked for without holding the bytes.
#ifndef KILN_INTEROP_ONNX_ONNX_TENSOR_H_
#define KILN_INTEROP_ONNX_ONNX_TENSOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "onnx/onnx.pb.h"
#include "runtime/checkpoint.h"

namespace kiln::interop {

// f32 (FLOAT, DOUBLE narrowed) and i64 (INT64, INT32 widened) tensors from raw_data or the typed
// fields. External data (tensors stored beside the model) is refused.
absl::StatusOr<runtime::CheckpointTensor> TensorFromOnnx(const onnx::TensorProto& tensor);

// The values of a tensor as doubles (f32 or i64), for constants an importer folds.
std::vector<double> TensorValues(const runtime::CheckpointTensor& tensor);
int64_t ElementCount(const std::vector<int64_t>& shape);

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_ONNX_TENSOR_H_
