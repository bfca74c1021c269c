#include "codegen/loop_order.h"

#include <algorithm>
#include <cstdlib>
#include <numeric>
#include <span>

#include "codegen/fused_evaluator.h"
#include "passes/constant_evaluator.h"

namespace kiln::codegen {
namespace {

// Elements after the blocked dim below which blocking loses: the row-major loop over them is
// short and cheap (ResNet-18's 2x2 maps: 3 -> 30 us blocked).
constexpr int64_t kMinTrailingElements = 64;
// A blocked dim shorter than this leaves most of each block's cache line unread.
constexpr int64_t kTransposeBlockMin = 8;

// Reads that move by more than one element when output coordinate `d` does: with `d` innermost,
// each such read touches a new cache line or needs a gather (stride 0, a broadcast, and 1 do not).
int StridedReads(const std::vector<std::vector<int64_t>>& strides, int d) {
  int count = 0;
  for (const std::vector<int64_t>& read : strides) count += std::llabs(read[d]) > 1;
  return count;
}

// The element index of every read the kernel makes to evaluate `nodes` at coordinates `at`, in
// order.
std::vector<int64_t> ReadIndices(const ir::Graph& graph, const ir::Kernel& kernel,
                                 std::span<const ir::NodeId> nodes,
                                 const std::vector<int64_t>& at) {
  passes::ConstantEvaluator eval;
  std::vector<int64_t> indices;
  FusedEvaluator::LoadFn load = [&](ir::NodeId id, std::span<const kernel::Value> coords) {
    const ir::TensorType& type = graph.node(id).type;
    std::vector<int64_t> strides = ir::RowMajorStrides(type.shape);
    int64_t index = 0;
    for (size_t d = 0; d < coords.size(); ++d) index += eval.I64(coords[d]) * strides[d];
    indices.push_back(index);
    return type.dtype == ir::DType::kI64 ? eval.ConstI64(1) : eval.ConstF32(1.0);
  };
  FusedEvaluator fused(graph, kernel, eval, load);
  std::vector<kernel::Value> coords;
  for (int64_t c : at) coords.push_back(eval.MakeCoordinate(c));
  for (ir::NodeId node : nodes) fused.Evaluate(node, coords);
  return indices;
}

std::vector<std::vector<int64_t>> ReadStridesOf(const ir::Graph& graph, const ir::Kernel& kernel,
                                                std::span<const ir::NodeId> nodes,
                                                const ir::Shape& shape) {
  // Probe at the middle of the output, away from any edge where a read could be clamped.
  std::vector<int64_t> at;
  for (int64_t extent : shape) at.push_back((extent - 1) / 2);
  const std::vector<int64_t> base = ReadIndices(graph, kernel, nodes, at);
  std::vector<std::vector<int64_t>> strides(base.size(), std::vector<int64_t>(shape.size(), 0));
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::vector<int64_t> next = at;
    next[d] += 1;
    const std::vector<int64_t> moved = ReadIndices(graph, kernel, nodes, next);
    if (moved.size() != base.size()) return {};  // Not one fixed sequence of reads.
    for (size_t r = 0; r < base.size(); ++r) strides[r][d] = moved[r] - base[r];
  }
  return strides;
}

// The last dim of `order` that has more than one element: the one a walk in that order steps
// along innermost (-1 if none).
int InnermostDim(const std::vector<int>& order, const ir::Shape& shape) {
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (shape[*it] > 1) return *it;
  }
  return -1;
}

}  // namespace

std::vector<std::vector<int64_t>> ReadStrides(const ir::Graph& graph, const ir::Kernel& kernel,
                                              const ir::Shape& shape) {
  return ReadStridesOf(graph, kernel, kernel.outputs, shape);
}

std::vector<int> ReductionWalkOrder(const ir::Graph& graph, const ir::Kernel& kernel,
                                    ir::NodeId operand, const ir::Shape& shape) {
  std::vector<int> row_major(shape.size());
  std::iota(row_major.begin(), row_major.end(), 0);
  const int innermost = InnermostDim(row_major, shape);
  if (innermost < 0) return row_major;
  const ir::NodeId nodes[] = {operand};
  const std::vector<std::vector<int64_t>> strides = ReadStridesOf(graph, kernel, nodes, shape);
  std::vector<int> best = row_major;
  int best_reads = StridedReads(strides, innermost);
  // Each read's own memory order is a candidate: dims by decreasing stride (a broadcast's
  // stride-0 dims outermost, ties in row-major order).
  for (const std::vector<int64_t>& read : strides) {
    std::vector<int> order = row_major;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return std::llabs(read[a]) > std::llabs(read[b]);
    });
    const int reads = StridedReads(strides, InnermostDim(order, shape));
    if (reads < best_reads) {
      best = order;
      best_reads = reads;
    }
  }
  return best;
}

LoopOrder ChooseLoopOrder(const ir::Graph& graph, const ir::Kernel& kernel, const ir::Shape& shape,
                          int lowest) {
  const int last = static_cast<int>(shape.size()) - 1;
  if (last < 0 || shape[last] < 2) return {};
  const std::vector<std::vector<int64_t>> strides = ReadStrides(graph, kernel, shape);
  LoopOrder order;
  // Walking dim d innermost makes the store strided instead (its last dim is contiguous), so d
  // must spare at least one strided read more than it costs: moving a strided read onto the store
  // measured 2-3.5x faster (fashion_cnn's and ResNet-18's GEMM output <-> NCHW kernels), moving
  // a strided read from one operand to another plus the store 25% slower.
  const int row_major = StridedReads(strides, last);
  order.innermost_strided = row_major > 0;
  int best_reads = row_major - 1;
  int64_t trailing = shape[last];
  for (int d = last - 1; d >= lowest; --d) {
    const int reads = StridedReads(strides, d);
    // The more strided reads blocking spares (a col2im's taps), the shorter a run after the
    // blocked dim it pays for, by the square: each spared read is a cache line per element less,
    // and one vector load per block instead of a scalar load per element (the CPU emitter leaves
    // the block's loop to the loop vectorizer). A transpose of 7x7 maps (one read, 49 after the
    // channel) ran 20 -> 33-38 us blocked; ResNet-18's 3x3 weight gradients summed from four
    // zero-padded slices and transposed to [OC, C, 3, 3] (four reads, 9 after the channel)
    // 637 -> 166 us.
    const int64_t spared = std::max(row_major - reads, 1);
    if (reads <= best_reads && shape[d] >= kTransposeBlockMin &&
        trailing * spared * spared >= kMinTrailingElements) {
      order.blocked_dim = d;
      best_reads = reads - 1;  // A dim further out must do strictly better.
    }
    trailing *= shape[d];
  }
  return order;
}

}  // namespace kiln::codegen
