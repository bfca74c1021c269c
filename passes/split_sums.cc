#include "passes/split_sums.h"

#include <vector>

#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "passes/rebuild_graph.h"
#include "passes/sums.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::Node;
using ir::NodeId;
using ir::Shape;

// Below this many elements a sum is a few microseconds wherever its rows were written.
constexpr int64_t kMinSplitElements = int64_t{1} << 18;
// The partial sums (S x the kept elements) at most this fraction of the operand, so the second
// kernel stays small against the first.
constexpr int64_t kMinElementsPerPartial = 64;

bool InMemory(const Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  return def.Has(ir::kAlias) || def.Has(ir::kLeaf);
}

bool Splits(const Graph& graph, const Node& node) {
  if (!IsF32Sum(node)) return false;
  const Node& operand = graph.node(node.operands[0]);
  const Shape& shape = operand.type.shape;
  const int64_t elements = ir::NumElements(shape);
  if (!InMemory(operand) || shape.empty() || elements < kMinSplitElements) return false;
  const std::vector<int64_t> dims = SummedDims(node, operand.type.rank());
  if (dims.empty() || dims[0] != 0) return false;
  if (shape[0] % kSumSlices != 0 || shape[0] == kSumSlices) return false;
  return ir::NumElements(node.type.shape) * kSumSlices * kMinElementsPerPartial <= elements;
}

NodeId SplitSum(ir::GraphBuilder& b, const Node& sum) {
  const NodeId operand = sum.operands[0];
  const Shape shape = b.type(operand).shape;
  Shape sliced = {kSumSlices, shape[0] / kSumSlices};
  sliced.insert(sliced.end(), shape.begin() + 1, shape.end());
  std::vector<int64_t> within_slices;
  for (int64_t d : SummedDims(sum, static_cast<int64_t>(shape.size()))) {
    within_slices.push_back(d + 1);
  }
  // With keepdim the partials are [S, 1, ...] and their sum over dim 0 is the sum's own shape.
  const bool keepdim = sum.attrs.GetInt("keepdim") != 0;
  const NodeId partials = b.ReduceSum(b.Reshape(operand, sliced), within_slices, keepdim);
  return b.ReduceSum(partials, {0}, /*keepdim=*/false);
}

}  // namespace

absl::StatusOr<bool> SplitSums(Graph& graph) { return RebuildPicked(graph, Splits, SplitSum); }

}  // namespace kiln::passes
