// Which dim a loop kernel's innermost loop should walk. A loop nest walks the output row-major,
// so the output's last dim is innermost; when the kernel reads an operand through a transpose
// (NHWC GEMM output -> NCHW), that operand is then read with a stride of a whole row per step and
// every load touches another cache line. Probing how each read's element index moves with each
// output coordinate finds the dim along which such a read is contiguous; walking that dim in
// short blocks innermost reads whole cache lines and keeps the strided writes within a tile.
#ifndef KILN_CODEGEN_LOOP_ORDER_H_
#define KILN_CODEGEN_LOOP_ORDER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel_program.h"

namespace kiln::codegen {

// How far each memory read of `kernel` (evaluated at an element of `shape`, its output) moves
// when output coordinate d moves by one: strides[read][d], in elements of the read tensor. Reads
// are listed in the order the kernel's formula makes them; a dim of extent 1 has stride 0.
std::vector<std::vector<int64_t>> ReadStrides(const ir::Graph& graph, const ir::Kernel& kernel,
                                              const ir::Shape& shape);

// How a loop kernel walks its output, from one probe of its reads (ReadStrides).
struct LoopOrder {
  // The output dim (>= lowest, not the last) to walk in blocks innermost: the one along which
  // the fewest reads are strided, if that spares at least one strided read more than the store
  // it makes strided, with enough elements after it for blocking to pay (fewer, the more strided
  // reads it spares: 64 over their square). nullopt: the row-major order is as good. Window ops
  // count too: they load at every element (out-of-range taps redirected in range), so the probe
  // sees a fixed sequence of reads, and a col2im writing NCHW from patches with the channel
  // innermost walks the channel in blocks (ResNet-18's col2im kernels 2-3.5x faster).
  std::optional<int> blocked_dim;
  // Whether the row-major walk (the last dim innermost) reads some operand strided along that
  // dim, as a transpose that is not blocked does (a short dim, a small weight).
  bool innermost_strided = false;
};

LoopOrder ChooseLoopOrder(const ir::Graph& graph, const ir::Kernel& kernel, const ir::Shape& shape,
                          int lowest);

// The order in which a reduction kernel walks the dims of its operand `operand` (of `shape`):
// a permutation of them, outermost first. Row-major unless some read is strided along the
// operand's last dim and another order, the memory order of one of the reads, leaves fewer
// reads strided along its innermost dim. Batch-norm statistics of an NHWC GEMM output viewed
// as NCHW then walk N, H, W, C: the channels innermost, a vector of them per load, where the
// row-major walk loads one float per cache line, each line once per channel (ResNet-18's stem:
// 16x as many lines as the data has).
std::vector<int> ReductionWalkOrder(const ir::Graph& graph, const ir::Kernel& kernel,
                                    ir::NodeId operand, const ir::Shape& shape);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_LOOP_ORDER_H_
