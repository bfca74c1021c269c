// Reverse-mode automatic differentiation over primitive ops, using each op's gradient rule.
#ifndef KILN_PASSES_AUTODIFF_H_
#define KILN_PASSES_AUTODIFF_H_

#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Appends the backward graph of scalar `loss` with respect to each node of `wrt` and returns
// their gradients (same order; a zero constant for a node the loss does not depend on).
// Composite ops must have been expanded first.
absl::StatusOr<std::vector<ir::NodeId>> AppendGradients(ir::Graph& graph, ir::NodeId loss,
                                                        const std::vector<ir::NodeId>& wrt);

// What a gradient rule returned for `node`, checked before it is used: one entry per operand,
// each absent or of its operand's type. A rule that returns too few gradients would otherwise
// drop the rest silently, and one of the wrong shape would surface far away (or not at all).
absl::Status CheckGradientRule(const ir::Graph& graph, const ir::Node& node,
                               std::span<const std::optional<ir::NodeId>> grads);

}  // namespace kiln::passes

#endif  // KILN_PASSES_AUTODIFF_H_
