// Constant folding and always-exact algebraic simplification.
//
// Folding: an elementwise node whose operands are all splat constants becomes a constant of its
// type. The value comes from running the op's own emit_element on the host (ConstantEvaluator),
// so it is the value generated code would compute: f32 rounding at every step, i64 wrapping.
//
// Simplifications, each exact for every input (NaN and signed zeros included):
//   x*1, 1*x, x/1, x-(+0), x+(-0), (-0)+x       -> x   (the constant must not broadcast x)
//   reshape(reshape(x))                          -> reshape(x)
//   reshape(x) to x's own shape                  -> x
//   transpose(transpose(x))                      -> one transpose, or x if they cancel
//   broadcast_to / transpose that moves nothing  -> x
//   an update `w <- w` (what w*1 becomes)          -> dropped
// x+(+0) is NOT rewritten: (-0) + (+0) is +0, so it would change the sign of a zero.
//
// Nodes that become unused stay in the graph for EliminateDeadCode.
#ifndef KILN_PASSES_CONSTANT_FOLDING_H_
#define KILN_PASSES_CONSTANT_FOLDING_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// One sweep in topological order, which also folds chains ((2+3)*4 -> 20). Returns whether
// anything changed.
absl::StatusOr<bool> FoldConstants(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_CONSTANT_FOLDING_H_
