// split-sums: sums a long leading dim in slices, then the slices,
//   reduce_sum(x[N, ...], dims with 0)  ->  reduce_sum(reduce_sum(x[S, N/S, ...], dims + 1), 0)
// with S = kSumSlices. A reduction kernel splits its work over the dims it keeps; a sum over the
// batch rows that keeps a few channels (a convolution's bias gradient: [B*H*W, C] -> [C]) gives
// each thread a few channels of every row, so each thread reads every row, half of them written
// by the other core a kernel earlier. Kept as a dim, the slices split the rows instead: thread t
// sums the rows the producer wrote on its core (producers split the batch the same way), and
// the S partial sums are added in a small second kernel. Each slice is still summed in cascade
// (codegen/summation_plan.h), so the rounding error stays about log2(N) ulps.
#ifndef KILN_PASSES_SPLIT_SUMS_H_
#define KILN_PASSES_SPLIT_SUMS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

// Slices of the leading dim: whole for 1, 2, 4, 8 and 16 threads, so every thread's share ends
// on a slice boundary.
inline constexpr int64_t kSumSlices = 16;

// Rewrites every f32 sum over dim 0 (among others) of an operand already in memory (a leaf or a
// reshape view: the slices are one more view of that buffer) that is worth it: at least 2^18
// elements, dim 0 a multiple of kSumSlices, and the partial sums at most 1/64 of the operand.
// An operand computed by ops a kernel would fuse into the sum is left alone, since slicing it
// would make that kernel store it. Returns whether it rewrote any.
absl::StatusOr<bool> SplitSums(ir::Graph& graph);

}  // namespace kiln::passes

#endif  // KILN_PASSES_SPLIT_SUMS_H_
