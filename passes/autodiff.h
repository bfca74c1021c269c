// Reverse-mode automatic differentiation over primitive ops, using each op's gradient rule.
#ifndef KILN_PASSES_AUTODIFF_H_
#define KILN_PASSES_AUTODIFF_H_

#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Appends the backward graph of scalar `loss` with respect to each node of `wrt` and returns
// their gradients (same order; a zero constant for a node the loss does not depend on).
// Composite ops must have been expanded first.
absl::StatusOr<std::vector<ir::NodeId>> AppendGradients(ir::Graph& graph, ir::NodeId loss,
                                                        const std::vector<ir::NodeId>& wrt);

}  // namespace kiln::passes

#endif  // KILN_PASSES_AUTODIFF_H_
