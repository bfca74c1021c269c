// Reductions over a set of dims (`dims`, `keepdim`). The backends own the loop and the combine
// step (ReduceKind); the op records own the shape rule and the gradient.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;

absl::StatusOr<TensorType> ReducedType(const TensorType& in, const Attrs& attrs, DType dtype) {
  std::vector<int64_t> dims = attrs.GetInts("dims");
  // A rank-0 tensor reduces over no dims (to itself), as torch.sum of a 0-dim tensor does.
  if (dims.empty() && in.rank() > 0) {
    return absl::InvalidArgumentError("a reduction needs at least one dim");
  }
  std::vector<bool> reduced(in.rank(), false);
  for (int64_t dim : dims) {
    auto d = NormalizeDim(dim, in.rank());
    if (!d.ok()) return d.status();
    if (reduced[*d]) {
      return absl::InvalidArgumentError(absl::StrFormat("dim %d is reduced twice", dim));
    }
    reduced[*d] = true;
  }
  bool keepdim = attrs.GetInt("keepdim") != 0;
  TensorType out{dtype, {}};
  for (int64_t d = 0; d < in.rank(); ++d) {
    if (!reduced[d]) out.shape.push_back(in.shape[d]);
    else if (keepdim) out.shape.push_back(1);
  }
  return out;
}

// The output gradient reshaped to the operand's rank (size 1 along reduced dims), so it
// broadcasts against the operand.
NodeId GradWithKeptDims(GradContext& g) {
  const Shape& in = g.b.type(g.operand(0)).shape;
  std::vector<int64_t> dims = g.node.attrs.GetInts("dims");
  Shape kept = in;
  for (int64_t dim : dims) kept[dim < 0 ? dim + in.size() : dim] = 1;
  NodeId grad = g.output_grad;
  return g.b.type(grad).shape == kept ? grad : g.b.Reshape(grad, kept);
}

NodeId ValueWithKeptDims(GradContext& g) {
  const Shape& in = g.b.type(g.operand(0)).shape;
  Shape kept = in;
  for (int64_t dim : g.node.attrs.GetInts("dims")) kept[dim < 0 ? dim + in.size() : dim] = 1;
  NodeId value = g.node.id;
  return g.b.type(value).shape == kept ? value : g.b.Reshape(value, kept);
}

const OpDef kReduceSum = {
    .name = "reduce_sum",
    .summary = "Sum over `dims`.",
    .num_operands = 1,
    .traits = kReduction,
    .infer_type = [](std::span<const TensorType> operands, const Attrs& attrs) {
      return ReducedType(operands[0], attrs, operands[0].dtype);
    },
    // Every summed element gets the output gradient: broadcast it back over the reduced dims.
    .gradient = [](GradContext& g) -> Grads {
      return {g.b.BroadcastTo(GradWithKeptDims(g), g.b.type(g.operand(0)).shape)};
    },
    .reduce_kind = ReduceKind::kSum,
};

// The gradient of max and min flows to the elements equal to the result, split evenly among
// ties as torch.amax / torch.amin do: g * [x == y] / (number of elements equal to y).
Grads ExtremumGradient(GradContext& g) {
  std::vector<int64_t> dims = g.node.attrs.GetInts("dims");
  NodeId x = g.operand(0);
  NodeId is_extreme = g.b.Equal(x, ValueWithKeptDims(g));
  NodeId ties = g.b.ReduceSum(is_extreme, dims, /*keepdim=*/true);
  NodeId share = g.b.Div(is_extreme, ties);
  return {g.b.Mul(share, GradWithKeptDims(g))};
}

OpDef Extremum(std::string name, std::string summary, ReduceKind kind) {
  return OpDef{
      .name = std::move(name),
      .summary = std::move(summary),
      .num_operands = 1,
      .traits = kReduction,
      .infer_type = [](std::span<const TensorType> operands, const Attrs& attrs) {
        return ReducedType(operands[0], attrs, operands[0].dtype);
      },
      .gradient = ExtremumGradient,
      .reduce_kind = kind,
  };
}

// Over several dims (in increasing order), the index is the maximum's row-major position among
// them: max_pool2d's argmax over a window's rows and columns is kh * KW + kw, read from the 6-D
// patches with no view in between, so fusion can recompute the patches in the argmax's loop.
const OpDef kArgMax = {
    .name = "argmax",
    .summary = "Index of the first maximum over `dims` (i64): along one dim its index, over "
               "several (increasing) its row-major position among them.",
    .num_operands = 1,
    .traits = kReduction | kNoGradient,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      std::vector<int64_t> dims = attrs.GetInts("dims");
      for (int64_t& d : dims) {
        auto normalized = NormalizeDim(d, operands[0].rank());
        if (!normalized.ok()) return normalized.status();
        d = *normalized;
      }
      if (!std::is_sorted(dims.begin(), dims.end())) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "argmax dims %s must be in increasing order (the index is row-major over them)",
            ShapeToString(attrs.GetInts("dims"))));
      }
      return ReducedType(operands[0], attrs, DType::kI64);
    },
    .reduce_kind = ReduceKind::kArgMax,
};

}  // namespace

void RegisterReductionOps(OpRegistry& r) {
  r.Add(kReduceSum);
  r.Add(Extremum("reduce_max", "Maximum over `dims`.", ReduceKind::kMax));
  r.Add(Extremum("reduce_min", "Minimum over `dims`.", ReduceKind::kMin));
  r.Add(kArgMax);
}

}  // namespace kiln::ir
