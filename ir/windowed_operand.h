// A GEMM operand that is a window op's output viewed as a matrix — a convolution's patches,
// im2col(x) as [N*OH*OW, KH*KW*C] — read straight from the buffer the window op reads: element
// (r, c) of the matrix lies at row_offsets[r] + col_offsets[c] floats into that buffer. The GEMM
// then never needs the patches stored: ResNet-18's layer1 writes and reads 9.4 MB of them per
// convolution, its padded input is 1.6 MB.
//
//   std::optional<WindowedOperand> w = ResolveWindowedOperand(graph, matmul.operands[0]);
//   if (w && w->contiguous_run % 16 == 0) { ... read w->source at the offsets ... }
//
// Resolution walks from the matrix through its reshape views to a window op with a split_reads
// record (ir/op_def.h), then from the window op's operand through index maps (transposes) and
// reshapes of contiguous data to the tensor whose buffer holds the elements: the source.
#ifndef KILN_IR_WINDOWED_OPERAND_H_
#define KILN_IR_WINDOWED_OPERAND_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

// A windowed operand's columns should come in contiguous runs of a multiple of this many floats,
// so that a vector of them (16 with AVX-512, 8 with AVX2) loads whole instead of lane by lane: a
// convolution's patches with 16, 32, 64... channels innermost. The fusion pass reads narrower
// runs from stored patches, and conv2d pads its input explicitly only where the runs qualify.
inline constexpr int64_t kWindowedColumnRun = 16;

struct WindowedOperand {
  NodeId window = kNoNode;     // The window op (im2col).
  NodeId source = kNoNode;     // The tensor whose buffer the elements are read from.
  // Every node between the matrix and the source, the matrix included: reshape views, the window
  // op and the index maps under it. A kernel reading the operand this way computes them as
  // addresses.
  std::vector<NodeId> addressed;
  std::vector<int64_t> row_offsets;  // Per matrix row, in floats from the source's start.
  std::vector<int64_t> col_offsets;  // Per matrix column.
  // The largest R such that columns [jR, (j+1)R) lie at consecutive addresses for every j (1 when
  // none do): vectors of columns that never straddle two runs load whole.
  int64_t contiguous_run = 1;
};

// The matrix `matrix` (a 2-D node) as a windowed operand, or nullopt where it is not one: its
// views do not lead to a window op with split_reads, the op reads fill, or the path to the source
// holds anything but index maps and reshapes of contiguous data.
std::optional<WindowedOperand> ResolveWindowedOperand(const Graph& graph, NodeId matrix);

}  // namespace kiln::ir

#endif  // KILN_IR_WINDOWED_OPERAND_H_
