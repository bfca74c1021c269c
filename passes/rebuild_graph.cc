#include "passes/rebuild_graph.h"

#include <utility>
#include <vector>

#include "ir/op_registry.h"

namespace kiln::passes {

absl::Status RebuildGraph(ir::Graph& graph, const NodeRewrite& rewrite) {
  ir::Graph rebuilt;
  rebuilt.name = graph.name;
  ir::GraphBuilder b(rebuilt);
  std::vector<ir::NodeId> remap(graph.size(), ir::kNoNode);
  for (const ir::Node& original : graph.nodes()) {
    ir::Node node = original;
    for (ir::NodeId& operand : node.operands) operand = remap[operand];
    b.set_loc(node.loc);
    const ir::NodeId result = rewrite(b, node, remap);
    if (!b.status().ok()) return b.status();
    if (result == ir::kNoNode) {
      remap[original.id] = rebuilt.Add(std::move(node));
      continue;
    }
    ir::Node& replacement = rebuilt.mutable_node(result);
    if (!original.name.empty() && replacement.name.empty() &&
        !ir::OpOf(replacement).Has(ir::kLeaf)) {
      replacement.name = original.name;
    }
    remap[original.id] = result;
  }
  for (auto& [name, id] : graph.outputs) rebuilt.outputs.emplace_back(name, remap[id]);
  for (const ir::Update& u : graph.updates) {
    rebuilt.updates.push_back({remap[u.target], remap[u.value]});
  }
  graph = std::move(rebuilt);
  return absl::OkStatus();
}

absl::StatusOr<bool> RebuildPicked(ir::Graph& graph, const NodePredicate& picks,
                                   const NodeReplacement& replace) {
  std::vector<bool> picked(graph.size(), false);
  bool any = false;
  for (const ir::Node& node : graph.nodes()) any |= picked[node.id] = picks(graph, node);
  if (!any) return false;
  absl::Status status = RebuildGraph(
      graph, [&](ir::GraphBuilder& b, const ir::Node& node, std::span<const ir::NodeId>) {
        return picked[node.id] ? replace(b, node) : ir::kNoNode;
      });
  if (!status.ok()) return status;
  return true;
}

}  // namespace kiln::passes
