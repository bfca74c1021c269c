#include "passes/factor_sums.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "passes/rebuild_graph.h"
#include "passes/sums.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::Shape;

// `shape` broadcast (NumPy: aligned on the right) against a value of rank `rank`, padded with
// leading 1s.
Shape Aligned(const Shape& shape, int64_t rank) {
  Shape aligned(rank - static_cast<int64_t>(shape.size()), 1);
  aligned.insert(aligned.end(), shape.begin(), shape.end());
  return aligned;
}

bool ConstantAlong(const Shape& shape, int64_t rank, const std::vector<int64_t>& dims) {
  const Shape aligned = Aligned(shape, rank);
  for (int64_t d : dims) {
    if (aligned[d] != 1) return false;
  }
  return true;
}

// The operand of `product` its sum over `dims` can move inside: one the op is linear in, of the
// product's own shape, with every other operand constant along `dims`.
std::optional<int> LinearOperand(const Graph& graph, const Node& product,
                                 const std::vector<int64_t>& dims) {
  const ir::OpDef& def = ir::OpOf(product);
  if (!def.Has(ir::kElementwise) || product.type.dtype != ir::DType::kF32) return std::nullopt;
  const int64_t rank = product.type.rank();
  for (int i : def.linear_in) {
    if (graph.node(product.operands[i]).type.shape != product.type.shape) continue;
    bool others_constant = true;
    for (int j = 0; j < static_cast<int>(product.operands.size()); ++j) {
      if (j != i) {
        others_constant &= ConstantAlong(graph.node(product.operands[j]).type.shape, rank, dims);
      }
    }
    if (others_constant) return i;
  }
  return std::nullopt;
}

// Σ_dims value with the factors taken out, as far as they go.
NodeId Sum(ir::GraphBuilder& b, NodeId value, const std::vector<int64_t>& dims, bool keepdim) {
  const Node product = b.graph().node(value);  // A copy: building adds nodes.
  const std::optional<int> linear = LinearOperand(b.graph(), product, dims);
  if (!linear) return b.ReduceSum(value, dims, keepdim);
  const int64_t rank = product.type.rank();
  std::vector<NodeId> operands = product.operands;
  operands[*linear] = Sum(b, operands[*linear], dims, keepdim);
  for (int j = 0; j < static_cast<int>(operands.size()); ++j) {
    const Shape shape = b.type(operands[j]).shape;
    if (j == *linear || keepdim || shape.empty()) continue;
    // The sum drops its dims; the factor, of size 1 there, drops them too.
    Shape kept;
    const Shape aligned = Aligned(shape, rank);
    for (int64_t d = 0; d < rank; ++d) {
      if (std::find(dims.begin(), dims.end(), d) == dims.end()) kept.push_back(aligned[d]);
    }
    if (kept != shape) operands[j] = b.Reshape(operands[j], kept);
  }
  return b.Op(product.op.name(), operands, product.attrs);
}

bool Factors(const Graph& graph, const Node& node) {
  if (!IsF32Sum(node)) return false;
  const Node& operand = graph.node(node.operands[0]);
  return LinearOperand(graph, operand, SummedDims(node, operand.type.rank())).has_value();
}

}  // namespace

absl::StatusOr<bool> FactorSums(Graph& graph) {
  return RebuildPicked(graph, Factors, [](ir::GraphBuilder& b, const Node& node) {
    const NodeId operand = node.operands[0];
    return Sum(b, operand, SummedDims(node, b.type(operand).rank()),
               node.attrs.GetInt("keepdim") != 0);
  });
}

}  // namespace kiln::passes
