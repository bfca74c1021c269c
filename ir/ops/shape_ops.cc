// Ops that move elements without computing: reshape (a view of the same buffer), broadcast_to
// and transpose (index maps that fuse into their consumers' loops).
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "ir/ops/op_helpers.h"

namespace kiln::ir {
namespace {

using Grads = std::vector<std::optional<NodeId>>;

const OpDef kReshape = {
    .name = "reshape",
    .summary = "Same elements, new `shape` (row-major); -1 infers one dim. No copy.",
    .num_operands = 1,
    .traits = kAlias,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      Shape shape = attrs.GetInts("shape");
      int64_t known = 1, infer_at = -1;
      bool valid = true;
      for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1 && infer_at < 0) {
          infer_at = i;
          continue;
        }
        // A product that overflows cannot equal the operand's element count.
        std::optional<int64_t> product = CheckedMul(known, shape[i]);
        if (!product.has_value()) valid = false;
        known = product.value_or(1);
        // Only one -1 may be inferred; other sizes must be positive ([-2,-3] multiplies to 6).
        if (shape[i] <= 0 && static_cast<int64_t>(i) != infer_at) valid = false;
      }
      int64_t total = operands[0].num_elements();
      if (valid && infer_at >= 0 && total % known == 0) shape[infer_at] = total / known;
      if (!valid || NumElements(shape) != total || (infer_at >= 0 && shape[infer_at] < 0)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("cannot reshape %s to %s", operands[0].ToString(),
                            ShapeToString(attrs.GetInts("shape"))));
      }
      return TensorType{operands[0].dtype, shape};
    },
    .gradient = [](GradContext& g) -> Grads {
      return {g.b.Reshape(g.output_grad, g.b.type(g.operand(0)).shape)};
    },
};

const OpDef kBroadcastTo = {
    .name = "broadcast_to",
    .summary = "Repeats the operand along new leading dims and its size-1 dims to `shape`.",
    .num_operands = 1,
    .traits = kIndexMap | kCheap,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      Shape target = attrs.GetInts("shape");
      auto shape = BroadcastShapes(operands[0].shape, target);
      if (!shape.ok() || *shape != target) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "cannot broadcast %s to %s", operands[0].ToString(), ShapeToString(target)));
      }
      return TensorType{operands[0].dtype, target};
    },
    .gradient = [](GradContext& g) -> Grads {
      // Copy the shape: SumToShape adds nodes, which may reallocate the storage it lives in.
      Shape operand_shape = g.b.type(g.operand(0)).shape;
      return {g.b.SumToShape(g.output_grad, operand_shape)};
    },
    .index_map = [](const Node& node, const TensorType& operand) {
      std::vector<int> map(operand.rank());
      int64_t offset = node.type.rank() - operand.rank();
      for (int64_t d = 0; d < operand.rank(); ++d) {
        map[d] = operand.shape[d] == 1 ? -1 : static_cast<int>(d + offset);
      }
      return map;
    },
};

const OpDef kTranspose = {
    .name = "transpose",
    .summary = "Permutes dims: output dim i is operand dim perm[i].",
    .num_operands = 1,
    .traits = kIndexMap | kCheap,
    .infer_type = [](std::span<const TensorType> operands,
                     const Attrs& attrs) -> absl::StatusOr<TensorType> {
      std::vector<int64_t> perm = attrs.GetInts("perm");
      const TensorType& in = operands[0];
      std::vector<bool> seen(in.rank(), false);
      bool valid = static_cast<int64_t>(perm.size()) == in.rank();
      for (int64_t p : perm) {
        if (!valid || p < 0 || p >= in.rank() || seen[p]) valid = false;
        else seen[p] = true;
      }
      if (!valid) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "perm %s is not a permutation of the dims of %s", ShapeToString(perm), in.ToString()));
      }
      TensorType out{in.dtype, {}};
      for (int64_t p : perm) out.shape.push_back(in.shape[p]);
      return out;
    },
    .gradient = [](GradContext& g) -> Grads {
      std::vector<int64_t> perm = g.node.attrs.GetInts("perm"), inverse(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
      return {g.b.Transpose(g.output_grad, inverse)};
    },
    .index_map = [](const Node& node, const TensorType& operand) {
      std::vector<int64_t> perm = node.attrs.GetInts("perm");
      std::vector<int> map(operand.rank());
      for (size_t out_dim = 0; out_dim < perm.size(); ++out_dim) map[perm[out_dim]] = out_dim;
      return map;
    },
    // transpose(transpose(x, p), q) = transpose(x, r) with r[i] = p[q[i]]: output dim i of the
    // outer one is dim q[i] of the inner one, which is dim p[q[i]] of x.
    .compose = [](const Attrs& inner, const Attrs& outer) {
      std::vector<int64_t> inner_perm = inner.GetInts("perm"), composed;
      for (int64_t q : outer.GetInts("perm")) composed.push_back(inner_perm[q]);
      return Attrs{{"perm", composed}};
    },
};

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  r.Add(kReshape);
  r.Add(kBroadcastTo);
  r.Add(kTranspose);
}

}  // namespace kiln::ir
