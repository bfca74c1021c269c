// Data parallelism, the XLA way: the gradient all-reduce is an op in the step graph, placed by
// this pass after autodiff and before gradient clipping (so a clipped norm is the norm of the
// averaged gradient, as DDP + clip_grad_norm_ gives). Every rank compiles the same graph and so
// issues the same collectives in the same order.
//
// Small gradients are packed into flat buckets (a combiner, like XLA's AllReduceCombiner), so a
// step makes a few large all-reduces instead of one per parameter:
//
//   %g1 = ... f32[784,256]         %f1 = reshape(%g1) {shape=[200704]}
//   %g2 = ... f32[256]       →     %f2 = reshape(%g2) {shape=[256]}
//                                  %bucket = concat(%f1, %f2) {dim=0}     f32[200960]
//                                  %mean = all_reduce(%bucket)
//                                  %g1' = reshape(slice(%mean) {starts=[0], stops=[200704]})
//                                  %g2' = reshape(slice(%mean) {starts=[200704], ...})
#ifndef KILN_PASSES_DATA_PARALLEL_H_
#define KILN_PASSES_DATA_PARALLEL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"

namespace kiln::passes {

struct DataParallelOptions {
  // Most bytes one all-reduce carries (PyTorch DDP's bucket_cap_mb default). A gradient larger
  // than this gets a bucket of its own.
  int64_t bucket_bytes = int64_t{25} << 20;
};

// Returns, for each of `grads` (f32), its mean over the ranks: gradients packed in order into
// buckets of at most `options.bucket_bytes`, one all_reduce per bucket, and split back to their
// shapes. A gradient computed from attrs alone (a zero constant for a parameter the loss does not
// reach) is the same on every rank and is returned as it is.
absl::StatusOr<std::vector<ir::NodeId>> AllReduceGradients(ir::Graph& graph,
                                                           std::span<const ir::NodeId> grads,
                                                           const DataParallelOptions& options = {});

// The pass on a graph whose gradients are outputs named "grad.<parameter>" (`kiln opt
// --passes=autodiff,data-parallel`): each such output becomes the all-reduced gradient.
absl::StatusOr<bool> AllReduceGradientOutputs(ir::Graph& graph,
                                              const DataParallelOptions& options = {});

}  // namespace kiln::passes

#endif  // KILN_PASSES_DATA_PARALLEL_H_
