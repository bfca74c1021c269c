// Shape rules and small utilities shared by the op families in ir/ops/.
#ifndef KILN_IR_OPS_OP_HELPERS_H_
#define KILN_IR_OPS_OP_HELPERS_H_

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph_builder.h"
#include "ir/op_def.h"

namespace kiln::ir {

// NumPy broadcast of all operands; all must share a dtype. The result has `result_dtype`, or the
// operands' dtype when unset.
absl::StatusOr<TensorType> BroadcastOperands(std::span<const TensorType> operands,
                                             std::optional<DType> result_dtype = std::nullopt);

// Requires operand `index` to be floating point; the error names the op's operand type.
absl::Status RequireFloat(const TensorType& type, const char* what);

// Normalizes a possibly negative dim against `rank`; error if out of range.
absl::StatusOr<int64_t> NormalizeDim(int64_t dim, int64_t rank);

// log_softmax(x, dim) in primitives, shifted by a max that is excluded from differentiation:
// the result does not depend on it, and leaving it out gives the textbook gradient. Used by the
// softmax composites and by the losses that take logits.
NodeId LogSoftmaxAlong(GraphBuilder& b, NodeId x, int64_t dim);
NodeId SoftmaxAlong(GraphBuilder& b, NodeId x, int64_t dim);

// Reads the `dtype` and `shape` attrs that leaves and shape-producing ops carry.
absl::StatusOr<TensorType> TypeFromAttrs(const Attrs& attrs);

// The record of a composite op: a shape rule and an expansion into primitive ops.
OpDef Composite(std::string name, std::string summary, int num_operands, InferTypeFn infer,
                ExpandFn expand);

}  // namespace kiln::ir

#endif  // KILN_IR_OPS_OP_HELPERS_H_
