#include "passes/dead_code_elimination.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::NodeId;

absl::Status CheckRoot(const Graph& graph, NodeId id, const std::string& what) {
  if (id >= 0 && id < graph.size()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat(what, " refers to node ", id, ", but the graph has ", graph.size(), " nodes"));
}

// Marks the roots (outputs, update values and targets), then walks the nodes backwards: operands
// precede their users, so one reverse sweep reaches everything the roots need.
absl::StatusOr<std::vector<bool>> LiveNodes(const Graph& graph) {
  std::vector<bool> live(graph.size(), false);
  for (const auto& [name, id] : graph.outputs) {
    if (auto s = CheckRoot(graph, id, absl::StrCat("output '", name, "'")); !s.ok()) return s;
    live[id] = true;
  }
  for (const ir::Update& update : graph.updates) {
    if (auto s = CheckRoot(graph, update.target, "an update target"); !s.ok()) return s;
    if (auto s = CheckRoot(graph, update.value, "an update value"); !s.ok()) return s;
    live[update.target] = true;
    live[update.value] = true;
  }
  for (NodeId id = graph.size() - 1; id >= 0; --id) {
    if (!live[id]) continue;
    for (NodeId operand : graph.node(id).operands) live[operand] = true;
  }
  return live;
}

}  // namespace

absl::StatusOr<bool> EliminateDeadCode(Graph& graph) {
  auto live = LiveNodes(graph);
  if (!live.ok()) return live.status();
  bool all_live = true;
  for (bool l : *live) all_live = all_live && l;
  if (all_live) return false;
  graph.Compact(*live);
  return true;
}

}  // namespace kiln::passes
