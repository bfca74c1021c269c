#include "ir/windowed_operand.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <span>

#include "ir/op_registry.h"

namespace kiln::ir {
namespace {

// Where a tensor's elements lie in the buffer of `source`: element x at Σ strides[d] * x[d].
struct StridedView {
  NodeId source = kNoNode;
  std::vector<int64_t> strides;
  std::vector<NodeId> through;  // The index maps and reshapes walked, from the top.
};

bool IsRowMajor(const Shape& shape, const std::vector<int64_t>& strides) {
  const std::vector<int64_t> dense = RowMajorStrides(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] > 1 && strides[d] != dense[d]) return false;
  }
  return true;
}

std::optional<StridedView> ResolveStrides(const Graph& graph, NodeId id) {
  const Node& node = graph.node(id);
  const OpDef& def = OpOf(node);
  if (def.Has(kIndexMap) || def.Has(kAlias)) {
    std::optional<StridedView> below = ResolveStrides(graph, node.operands[0]);
    if (!below) return std::nullopt;
    const TensorType& operand = graph.node(node.operands[0]).type;
    std::vector<int64_t> strides(node.type.rank(), 0);
    if (def.Has(kAlias)) {
      // A reshape reinterprets row-major data: only contiguous data stays strided through it.
      if (!IsRowMajor(operand.shape, below->strides)) return std::nullopt;
      strides = RowMajorStrides(node.type.shape);
    } else {
      // Operand dim d takes its coordinate from output dim map[d] (or is 0 where map[d] < 0).
      const std::vector<int> map = def.index_map(node, operand);
      for (size_t d = 0; d < map.size(); ++d) {
        if (map[d] >= 0) strides[map[d]] += below->strides[d];
      }
    }
    below->strides = std::move(strides);
    below->through.insert(below->through.begin(), id);
    return below;
  }
  // A generator (constant, iota) is computed where used and has no buffer to read.
  if (def.Has(kGenerator)) return std::nullopt;
  return StridedView{id, RowMajorStrides(node.type.shape), {}};
}

// Offsets of every index of `dims` (row-major), given the operand coordinates each one reads.
std::vector<int64_t> Offsets(
    std::span<const int64_t> dims,
    const std::function<std::vector<int64_t>(std::span<const int64_t>)>& at,
    const std::vector<int64_t>& strides) {
  const int64_t count = std::accumulate(dims.begin(), dims.end(), int64_t{1}, std::multiplies<>());
  std::vector<int64_t> offsets(count);
  std::vector<int64_t> index(dims.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    const std::vector<int64_t> coords = at(index);
    offsets[i] = std::inner_product(coords.begin(), coords.end(), strides.begin(), int64_t{0});
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
  return offsets;
}

bool RunsOf(const std::vector<int64_t>& offsets, int64_t run) {
  if (offsets.size() % run != 0) return false;
  for (size_t j = 0; j < offsets.size(); j += run) {
    for (int64_t i = 1; i < run; ++i) {
      if (offsets[j + i] != offsets[j] + i) return false;
    }
  }
  return true;
}

int64_t ContiguousRun(const std::vector<int64_t>& offsets) {
  int64_t first_break = 1;
  while (first_break < static_cast<int64_t>(offsets.size()) &&
         offsets[first_break] == offsets[first_break - 1] + 1) {
    ++first_break;
  }
  for (int64_t run = first_break; run > 1; --run) {
    if (first_break % run == 0 && RunsOf(offsets, run)) return run;
  }
  return 1;
}

}  // namespace

std::optional<WindowedOperand> ResolveWindowedOperand(const Graph& graph, NodeId matrix) {
  const Node& top = graph.node(matrix);
  if (top.type.rank() != 2 || top.type.dtype != DType::kF32) return std::nullopt;
  WindowedOperand out;
  NodeId id = matrix;
  while (OpOf(graph.node(id)).Has(kAlias)) {
    out.addressed.push_back(id);
    id = graph.node(id).operands[0];
  }
  const Node& window = graph.node(id);
  const OpDef& def = OpOf(window);
  if (!def.Has(kWindow) || !def.split_reads || window.operands.size() != 1) return std::nullopt;
  // The matrix's rows must be whole leading dims of the window's output.
  const Shape& shape = window.type.shape;
  int lead = 0;
  for (int64_t rows = 1; rows < top.type.shape[0] && lead < window.type.rank(); ++lead) {
    rows *= shape[lead];
  }
  if (std::accumulate(shape.begin(), shape.begin() + lead, int64_t{1}, std::multiplies<>()) !=
      top.type.shape[0]) {
    return std::nullopt;
  }
  const TensorType& operand = graph.node(window.operands[0]).type;
  std::optional<SplitReads> split = def.split_reads(window, std::span(&operand, 1), lead);
  if (!split) return std::nullopt;
  std::optional<StridedView> view = ResolveStrides(graph, window.operands[0]);
  if (!view || graph.node(view->source).type.dtype != DType::kF32) return std::nullopt;
  out.window = id;
  out.source = view->source;
  out.addressed.push_back(id);
  out.addressed.insert(out.addressed.end(), view->through.begin(), view->through.end());
  const std::span<const int64_t> dims(shape);
  out.row_offsets = Offsets(dims.subspan(0, lead), split->from_lead, view->strides);
  out.col_offsets = Offsets(dims.subspan(lead), split->from_trail, view->strides);
  out.contiguous_run = ContiguousRun(out.col_offsets);
  return out;
}

}  // namespace kiln::ir
