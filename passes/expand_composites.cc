#include "passes/expand_composites.h"

#include "ir/graph_builder.h"
#include "ir/op_registry.h"

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

  // Rebuild in order: composites expand at their own position, so topological order holds.
  ir::Graph expanded;
  expanded.name = graph.name;
  ir::GraphBuilder b(expanded);
  std::vector<ir::NodeId> remap(graph.size(), ir::kNoNode);
  for (const ir::Node& original : graph.nodes()) {
    ir::Node node = original;
    for (ir::NodeId& operand : node.operands) operand = remap[operand];
    const ir::OpDef& def = ir::OpOf(node);
    if (!expands(def)) {
      remap[original.id] = expanded.Add(std::move(node));
      continue;
    }
    b.set_loc(node.loc);
    // The expansion may read node.id (e.g. dropout's random stream salt): keep the original id,
    // which is stable across modes, so training and evaluation graphs agree.
    ir::NodeId result = def.expand(b, node, training);
    if (!b.status().ok()) return b.status();
    if (!node.name.empty() && expanded.node(result).name.empty() &&
        !ir::OpOf(expanded.node(result)).Has(ir::kLeaf)) {
      expanded.mutable_node(result).name = node.name;
    }
    remap[original.id] = result;
  }
  for (auto& [name, id] : graph.outputs) expanded.outputs.emplace_back(name, remap[id]);
  for (const ir::Update& u : graph.updates) {
    expanded.updates.push_back({remap[u.target], remap[u.value]});
  }
  graph = std::move(expanded);
  return true;
}

}  // namespace kiln::passes
