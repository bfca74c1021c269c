#include "ir/ops/op_helpers.h"

#include "absl/strings/str_format.h"
#include "support/status.h"

namespace kiln::ir {

absl::StatusOr<TensorType> BroadcastOperands(std::span<const TensorType> operands,
                                             std::optional<DType> result_dtype) {
  TensorType out = operands[0];
  for (size_t i = 1; i < operands.size(); ++i) {
    if (operands[i].dtype != out.dtype) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "operand dtypes differ: %s and %s", out.ToString(), operands[i].ToString()));
    }
    auto shape = BroadcastShapes(out.shape, operands[i].shape);
    if (!shape.ok()) return shape.status();
    out.shape = *shape;
  }
  if (result_dtype) out.dtype = *result_dtype;
  return out;
}

namespace {

NodeId Shifted(GraphBuilder& b, NodeId x, int64_t dim) {
  return b.Sub(x, b.Op("stop_gradient", {b.ReduceMax(x, {dim}, /*keepdim=*/true)}));
}

}  // namespace

NodeId LogSoftmaxAlong(GraphBuilder& b, NodeId x, int64_t dim) {
  NodeId s = Shifted(b, x, dim);
  return b.Sub(s, b.Log(b.ReduceSum(b.Exp(s), {dim}, /*keepdim=*/true)));
}

NodeId SoftmaxAlong(GraphBuilder& b, NodeId x, int64_t dim) {
  NodeId e = b.Exp(Shifted(b, x, dim));
  return b.Div(e, b.ReduceSum(e, {dim}, /*keepdim=*/true));
}

absl::Status RequireFloat(const TensorType& type, const char* what) {
  if (type.dtype == DType::kF32) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("%s must be f32, got %s", what, type.ToString()));
}

absl::StatusOr<int64_t> NormalizeDim(int64_t dim, int64_t rank) {
  int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dim %d is out of range for a rank-%d tensor", dim, rank));
  }
  return d;
}

absl::StatusOr<TensorType> TypeFromAttrs(const Attrs& attrs) {
  TensorType type;
  KILN_ASSIGN_OR_RETURN(type.dtype, ParseDType(attrs.GetString("dtype", "f32")));
  type.shape = attrs.GetInts("shape");
  for (int64_t d : type.shape) {
    if (d <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("dimension sizes must be positive, got %s", ShapeToString(type.shape)));
    }
  }
  return type;
}

OpDef Composite(std::string name, std::string summary, int num_operands, InferTypeFn infer,
                ExpandFn expand) {
  return OpDef{.name = std::move(name),
               .summary = std::move(summary),
               .num_operands = num_operands,
               .traits = kComposite,
               .infer_type = std::move(infer),
               .expand = std::move(expand)};
}

}  // namespace kiln::ir
