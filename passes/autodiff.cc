#include "passes/autodiff.h"

#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::passes {
namespace {

// Nodes on a path from some node of `wrt` to anything: the ones whose adjoints are needed.
std::vector<bool> DependsOnWrt(const ir::Graph& graph, const std::vector<ir::NodeId>& wrt) {
  std::vector<bool> depends(graph.size(), false);
  for (ir::NodeId id : wrt) depends[id] = true;
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).Has(ir::kNoGradient)) continue;
    for (ir::NodeId operand : node.operands) depends[node.id] = depends[node.id] || depends[operand];
  }
  return depends;
}

}  // namespace

absl::Status CheckGradientRule(const ir::Graph& graph, const ir::Node& node,
                               std::span<const std::optional<ir::NodeId>> grads) {
  if (grads.size() != node.operands.size()) {
    return ErrorAt(node.loc, absl::StrCat("the gradient rule of '", node.op.name(), "' returned ",
                                          grads.size(), " gradients for ", node.operands.size(),
                                          " operands"));
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i]) continue;
    const ir::TensorType& want = graph.node(node.operands[i]).type;
    const ir::TensorType& got = graph.node(*grads[i]).type;
    if (got.dtype != want.dtype || got.shape != want.shape) {
      return ErrorAt(node.loc, absl::StrCat("the gradient rule of '", node.op.name(),
                                            "' returned ", got.ToString(), " for operand ", i,
                                            " of type ", want.ToString()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ir::NodeId>> AppendGradients(ir::Graph& graph, ir::NodeId loss,
                                                        const std::vector<ir::NodeId>& wrt) {
  if (graph.node(loss).type.rank() != 0) {
    return ErrorAt(graph.node(loss).loc,
                   absl::StrCat("the loss must be a scalar, got ", graph.node(loss).type.ToString()));
  }
  const int32_t forward_size = graph.size();
  std::vector<bool> depends = DependsOnWrt(graph, wrt);
  std::vector<ir::NodeId> adjoint(forward_size, ir::kNoNode);
  ir::GraphBuilder b(graph);
  b.set_loc(graph.node(loss).loc);
  adjoint[loss] = b.Scalar(1.0);

  for (ir::NodeId id = loss; id >= 0; --id) {
    if (adjoint[id] == ir::kNoNode || !depends[id]) continue;
    // Copy: building gradient nodes grows the node vector and would invalidate a reference.
    const ir::Node node = graph.node(id);
    const ir::OpDef& def = ir::OpOf(node);
    if (def.Has(ir::kLeaf) || def.Has(ir::kNoGradient)) continue;
    if (!def.gradient) {
      return ErrorAt(node.loc, absl::StrCat("op '", node.op.name(), "' has no gradient rule"));
    }
    b.set_loc(node.loc);
    ir::GradContext context{b, node, adjoint[id]};
    std::vector<std::optional<ir::NodeId>> grads = def.gradient(context);
    KILN_RETURN_IF_ERROR(b.status());
    KILN_RETURN_IF_ERROR(CheckGradientRule(graph, node, grads));
    for (size_t i = 0; i < node.operands.size(); ++i) {
      ir::NodeId operand = node.operands[i];
      if (!grads[i] || !depends[operand]) continue;
      adjoint[operand] = adjoint[operand] == ir::kNoNode ? *grads[i] : b.Add(adjoint[operand], *grads[i]);
    }
    KILN_RETURN_IF_ERROR(b.status());
  }

  std::vector<ir::NodeId> result;
  for (ir::NodeId id : wrt) {
    result.push_back(adjoint[id] != ir::kNoNode ? adjoint[id]
                                                : b.Constant(0.0, graph.node(id).type));
  }
  KILN_RETURN_IF_ERROR(b.status());
  return result;
}

}  // namespace kiln::passes
