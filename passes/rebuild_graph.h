// The rebuild loop of passes that replace nodes with subgraphs (expand-composites,
// convolve-input-gradients, factor-sums, split-sums): copy the graph node by node in order,
// building each replacement where its original stood, so topological order holds without a
// sort. What loses its last user is left to dead code elimination.
#ifndef KILN_PASSES_REBUILD_GRAPH_H_
#define KILN_PASSES_REBUILD_GRAPH_H_

#include <functional>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/graph_builder.h"

namespace kiln::passes {

// Returns the node of the new graph that stands for `node` (built through `b`, whose location is
// the node's), or kNoNode to keep a copy of it. `node` is the original (its id too) with its
// operands already mapped into the new graph; `remap` maps every earlier original id.
using NodeRewrite = std::function<ir::NodeId(ir::GraphBuilder& b, const ir::Node& node,
                                             std::span<const ir::NodeId> remap)>;

// Replaces `graph` by its rebuild through `rewrite`. A replacement takes the original's name
// where it has none of its own and is not a leaf. Outputs and updates follow their nodes.
absl::Status RebuildGraph(ir::Graph& graph, const NodeRewrite& rewrite);

// The whole of a pass that replaces the nodes `picks` accepts (asked of the original graph, all
// before any is replaced) by what `replace` builds for each (`node` as in NodeRewrite). Returns
// false, leaving the graph as it was, where it accepts none.
using NodePredicate = std::function<bool(const ir::Graph& graph, const ir::Node& node)>;
using NodeReplacement = std::function<ir::NodeId(ir::GraphBuilder& b, const ir::Node& node)>;
absl::StatusOr<bool> RebuildPicked(ir::Graph& graph, const NodePredicate& picks,
                                   const NodeReplacement& replace);

}  // namespace kiln::passes

#endif  // KILN_PASSES_REBUILD_GRAPH_H_
