// Dead code elimination: drops every node that no output or parameter update needs.
#ifndef KILN_PASSES_DEAD_CODE_ELIMINATION_H_
#define KILN_PASSES_DEAD_CODE_ELIMINATION_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Keeps the nodes reachable from graph.outputs and from the values and targets of graph.updates;
// everything else goes, unused inputs and parameters included, except that a persistent leaf an
// update writes is always kept. Renumbers the survivors (Graph::Compact). Returns whether any
// node was dropped.
absl::StatusOr<bool> EliminateDeadCode(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_DEAD_CODE_ELIMINATION_H_
