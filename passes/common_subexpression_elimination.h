// Common subexpression elimination: computes each distinct value once.
#ifndef KILN_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_
#define KILN_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Merges nodes with the same op, operands, attrs and type into the first of them, and removes the
// merged duplicates (other dead code is left to EliminateDeadCode). Never merged:
//   - leaves without a per-element formula (input, parameter, state): two of them are distinct
//     tensors even when their types agree;
//   - random ops (random_uniform): each call site is meant to draw its own noise;
//   - two values of parameter updates, since each is written in place into its own target.
// Returns whether anything was merged.
absl::StatusOr<bool> EliminateCommonSubexpressions(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_COMMON_SUBEXPRESSION_ELIMINATION_H_
