#include "passes/expand_composites.h"

#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "passes/rebuild_graph.h"
#include "support/status.h"

namespace kiln::passes {

absl::StatusOr<bool> ExpandComposites(ir::Graph& graph, bool training) {
  return ExpandComposites(graph, training, [](const ir::OpDef&) { return true; });
}

absl::StatusOr<bool> ExpandComposites(ir::Graph& graph, bool training,
                                      const std::function<bool(const ir::OpDef&)>& expand) {
  auto expands = [&](const ir::OpDef& def) { return def.Has(ir::kComposite) && expand(def); };
  bool has_composite = false;
  for (const ir::Node& node : graph.nodes()) has_composite |= expands(ir::OpOf(node));
  if (!has_composite) return false;

  // Composites expand at their own position; the expansion may read node.id (e.g. dropout's
  // random stream salt), which keeps the original id, stable across modes, so training and
  // evaluation graphs agree.
  KILN_RETURN_IF_ERROR(RebuildGraph(
      graph, [&](ir::GraphBuilder& b, const ir::Node& node, std::span<const ir::NodeId>) {
        const ir::OpDef& def = ir::OpOf(node);
        return expands(def) ? def.expand(b, node, training) : ir::kNoNode;
      }));
  return true;
}

}  // namespace kiln::passes
