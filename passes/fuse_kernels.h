// Groups the nodes of a primitive graph into kernels (ir/kernel_program.h):
//   - elementwise and index-map chains become one loop kernel, with several outputs when their
//     results are all needed (one Adam update = one kernel writing p, m and v);
//   - elementwise producers of a reduction are computed inside the reduction's loop;
//   - elementwise consumers of a matmul (bias, ReLU) become the GEMM's epilogue;
//   - a matmul operand that is a window op's output read as a matrix (a convolution's patches)
//     is computed inside the GEMM as addresses into the window op's input, when every user of
//     the window op can read it so.
// Every producer that does not join its consumers records why (a FusionDecision's reason) in the
// consuming kernels' `unfused_inputs`.
// Constants and iotas are recomputed inside every kernel that uses them; reshapes are views.
#ifndef KILN_PASSES_FUSE_KERNELS_H_
#define KILN_PASSES_FUSE_KERNELS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/kernel_program.h"

namespace kiln::passes {

struct FusionOptions {
  // Every op in a kernel of its own, its value stored: slower, but every intermediate value can
  // be inspected (the trainer's replay that names the op behind a non-finite value).
  bool one_op_per_kernel = false;
  // A GEMM may read a window op's output (a convolution's patches) straight from the window
  // op's input, at computed addresses (ir/windowed_operand.h), so the patches are never stored.
  // Off for backends whose GEMMs read only stored matrices (a vendor library's).
  bool windowed_gemm_operands = true;
};

// Kernels in a valid execution order: producers first, and every reader of a persistent tensor
// before the kernel that overwrites it in place.
absl::StatusOr<std::vector<ir::Kernel>> FuseKernels(const ir::Graph& graph,
                                                    FusionOptions options = {});

// One block per kernel: its name, kind, outputs and fused ops, then DescribeUnfusedEdges — the
// fusion dump of `kiln compile --emit=fusion`.
std::string DescribeKernels(const ir::Graph& graph, const std::vector<ir::Kernel>& kernels);

// The "not fused:" section: each producer another kernel reads, its consumers and why it was not
// fused into them (Kernel::unfused_inputs), e.g.
//   not fused:
//     %1 exp -> %2 reduce_sum, %3 reduce_max: producer has users in 2 kernels, and exp is too
//     costly to recompute
// Empty when every kernel reads only leaves.
std::string DescribeUnfusedEdges(const ir::Graph& graph, const std::vector<ir::Kernel>& kernels);

// True for nodes that are recomputed where used instead of getting a kernel (constant, iota).
bool IsInlinedGenerator(const ir::Node& node);

}  // namespace kiln::passes

#endif  // KILN_PASSES_FUSE_KERNELS_H_
