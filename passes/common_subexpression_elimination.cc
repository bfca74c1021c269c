#include "passes/common_subexpression_elimination.h"

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "ir/op_registry.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::NodeId;

// Everything that determines a node's value. Attribute values compare exactly (no text
// round-trip), so constants 0.1234567 and 0.1234568 stay apart.
using NodeKey = std::tuple<std::string, std::vector<NodeId>, std::map<std::string, ir::AttrValue>,
                           ir::DType, ir::Shape>;

NodeKey KeyOf(const Node& node) {
  return {node.op, node.operands, node.attrs.values(), node.type.dtype, node.type.shape};
}

// Two random_uniform nodes with equal key and salt would compute equal bits, but call sites that
// ask for noise twice mean two independent draws; merging would hide a salt bug instead of
// exposing it.
bool IsRandom(const Node& node) { return ir::OpOf(node).Has(ir::kRandom); }

bool MayMerge(const Node& node) { return !ir::OpOf(node).IsBoundLeaf() && !IsRandom(node); }

std::vector<bool> UpdateValues(const Graph& graph) {
  std::vector<bool> is_value(graph.size(), false);
  for (const ir::Update& update : graph.updates) is_value[update.value] = true;
  return is_value;
}

// Points outputs and update values at their representatives (`canonical`: a node's
// representative, itself if it was not merged). Operands are redirected during the sweep.
void RedirectRoots(Graph& graph, const std::vector<NodeId>& canonical) {
  for (auto& [name, id] : graph.outputs) id = canonical[id];
  for (ir::Update& update : graph.updates) update.value = canonical[update.value];
}

}  // namespace

absl::StatusOr<bool> EliminateCommonSubexpressions(Graph& graph) {
  std::vector<bool> is_update_value = UpdateValues(graph);
  std::vector<NodeId> canonical(graph.size());
  std::vector<bool> keep(graph.size(), true);
  std::map<NodeKey, NodeId> first_with_key;
  bool changed = false;
  // Nodes are in topological order, so a node's operands are already canonical when it is
  // visited and duplicates of duplicates merge in the same sweep.
  for (NodeId id = 0; id < graph.size(); ++id) {
    canonical[id] = id;
    Node& node = graph.mutable_node(id);
    for (NodeId& operand : node.operands) operand = canonical[operand];
    if (!MayMerge(node)) continue;
    auto [it, inserted] = first_with_key.try_emplace(KeyOf(node), id);
    if (inserted) continue;
    NodeId existing = it->second;
    if (is_update_value[id] && is_update_value[existing]) continue;
    is_update_value[existing] = is_update_value[existing] || is_update_value[id];
    canonical[id] = existing;
    keep[id] = false;
    changed = true;
  }
  if (!changed) return false;
  RedirectRoots(graph, canonical);
  graph.Compact(keep);
  return true;
}

}  // namespace kiln::passes
