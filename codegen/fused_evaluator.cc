#include "codegen/fused_evaluator.h"

#include <cassert>

#include "ir/op_registry.h"

namespace kiln::codegen {
namespace {

std::vector<int32_t> Key(const std::vector<kernel::Value>& coords) {
  std::vector<int32_t> key;
  for (const kernel::Value& c : coords) key.push_back(c.id);
  return key;
}

}  // namespace

FusedEvaluator::FusedEvaluator(const ir::Graph& graph, const ir::Kernel& kernel,
                               kernel::ScalarBuilder& builder, LoadFn load)
    : graph_(graph),
      inside_(kernel.nodes.begin(), kernel.nodes.end()),
      builder_(builder),
      load_(std::move(load)) {}

void FusedEvaluator::Define(ir::NodeId node, const std::vector<kernel::Value>& coords,
                            kernel::Value value) {
  memo_[{node, Key(coords)}] = value;
}

std::vector<kernel::Value> FusedEvaluator::OperandCoords(const ir::Node& node, int operand,
                                                         const std::vector<kernel::Value>& coords) {
  const ir::TensorType& type = graph_.node(node.operands[operand]).type;
  const ir::OpDef& def = ir::OpOf(node);
  std::vector<kernel::Value> result(type.rank());
  if (def.Has(ir::kIndexMap)) {
    std::vector<int> map = def.index_map(node, type);
    for (int64_t d = 0; d < type.rank(); ++d) {
      result[d] = map[d] < 0 ? builder_.ConstI64(0) : coords[map[d]];
    }
    return result;
  }
  // NumPy broadcasting: align on the right; size-1 dims read coordinate 0. A dim that is 1 in the
  // result too keeps its coordinate, so values defined there (a GEMM accumulator) are found.
  int64_t offset = node.type.rank() - type.rank();
  for (int64_t d = 0; d < type.rank(); ++d) {
    bool broadcast = type.shape[d] == 1 && node.type.shape[d + offset] != 1;
    result[d] = broadcast ? builder_.ConstI64(0) : coords[d + offset];
  }
  return result;
}

kernel::Value FusedEvaluator::Evaluate(ir::NodeId id, const std::vector<kernel::Value>& coords) {
  auto key = std::make_pair(id, Key(coords));
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  kernel::Value value;
  if (!inside_.count(id)) {
    value = load_(id, coords);
  } else {
    const ir::Node& node = graph_.node(id);
    const ir::OpDef& def = ir::OpOf(node);
    if (def.Has(ir::kWindow)) {
      value = EvaluateWindow(node, coords);
      memo_[key] = value;
      return value;
    }
    std::vector<kernel::Value> operands;
    for (size_t i = 0; i < node.operands.size(); ++i) {
      operands.push_back(Evaluate(node.operands[i], OperandCoords(node, i, coords)));
    }
    if (def.Has(ir::kIndexMap)) {
      value = operands[0];
    } else {
      assert(def.emit_element && "fused node without an element formula");
      value = def.emit_element(builder_, ir::ElementInputs{operands, coords, node});
    }
  }
  memo_[key] = value;
  return value;
}

// A window op reads its operands at coordinates it computes. Out-of-range reads are redirected to
// coordinate 0 (always in range) and their value replaced by the fill, so generated code loads
// without branches and never outside a buffer.
kernel::Value FusedEvaluator::EvaluateWindow(const ir::Node& node,
                                             const std::vector<kernel::Value>& coords) {
  auto load = [&](int operand, std::span<const kernel::Value> at,
                  std::optional<kernel::Value> in_bounds, double fill) -> kernel::Value {
    ir::NodeId id = node.operands[operand];
    std::vector<kernel::Value> safe(at.begin(), at.end());
    if (in_bounds) {
      kernel::Value zero = builder_.ConstI64(0);
      for (kernel::Value& c : safe) c = builder_.Select(*in_bounds, c, zero);
    }
    kernel::Value v = Evaluate(id, safe);
    if (!in_bounds) return v;
    kernel::Value filler = graph_.node(id).type.dtype == ir::DType::kI64
                               ? builder_.ConstI64(static_cast<int64_t>(fill))
                               : builder_.ConstF32(fill);
    return builder_.Select(*in_bounds, v, filler);
  };
  const ir::OpDef& def = ir::OpOf(node);
  assert(def.emit_window && "window op without a formula");
  std::vector<ir::TensorType> operand_types;
  for (ir::NodeId operand : node.operands) operand_types.push_back(graph_.node(operand).type);
  return def.emit_window(builder_, ir::WindowInputs{coords, node, operand_types, load});
}

}  // namespace kiln::codegen
