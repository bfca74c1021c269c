// factor-sums: takes out of a sum the factors that do not vary along its dims,
//   reduce_sum(f(a, b), dims)  ->  f(reduce_sum(a, dims), b)
// for an elementwise op f linear in `a` (OpDef::linear_in: mul, the dividend of div, neg) whose
// other operands are constant along `dims` (b loses those dims where the sum drops them). The
// sum then reads `a` alone, so equal sums meet in CSE: batch norm's backward sums dy for the bias
// gradient and dy * scale for the mean's, one reduction over the activations instead of two,
// and the mean's gradient is scale * Σdy, as PyTorch computes it. The factor is applied once
// instead of once per summed element, which changes rounding by about an ulp of the sum. A
// non-finite factor stays non-finite (an infinite scale over some zeros of `a` gives ±inf where
// the unfactored sum had NaN).
#ifndef KILN_PASSES_FACTOR_SUMS_H_
#define KILN_PASSES_FACTOR_SUMS_H_

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Rewrites every f32 sum reduction whose operand factors so, repeatedly (-(x * s) sums as
// -(Σx * s)); the linear operand must have the product's own shape, so no sum runs over a
// broadcast. Returns whether it rewrote any.
absl::StatusOr<bool> FactorSums(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_FACTOR_SUMS_H_
