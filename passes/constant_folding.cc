#include "passes/constant_folding.h"

#include <cmath>
#include <string>
#include <vector>

#include "ir/op_registry.h"
#include "passes/constant_evaluator.h"

namespace kiln::passes {
namespace {

using ir::Graph;
using ir::kNoNode;
using ir::Node;
using ir::NodeId;
using kernel::ScalarType;

constexpr char kConstantOp[] = "constant";

bool IsConstant(const Node& node) { return node.op == kConstantOp; }

// See common_subexpression_elimination.cc: the op table has no "random" trait yet. Folding a
// random op would be exact only for a constant key; it is never worth the surprise.
bool IsRandom(const Node& node) { return ir::OpOf(node).Has(ir::kRandom); }

// i64 constants carry their value as a double attr (the constant op reads GetFloat), so only
// integers of magnitude up to 2^53 survive the trip exactly.
bool FitsConstantAttr(double value, ir::DType dtype) {
  if (!std::isfinite(value)) return false;  // Keeps the IR text format to finite decimals.
  return dtype != ir::DType::kI64 || std::fabs(value) <= 9007199254740992.0;
}

// The value of `node` for an element, computed by its op's formula. Operands must be constants.
kernel::Value EvaluateElement(ConstantEvaluator& eval, const Graph& graph, const Node& node) {
  std::vector<kernel::Value> coords;
  for (int64_t d = 0; d < node.type.rank(); ++d) coords.push_back(eval.MakeCoordinate());
  std::vector<kernel::Value> operands;
  for (NodeId operand : node.operands) {
    operands.push_back(EvaluateElement(eval, graph, graph.node(operand)));
  }
  return ir::OpOf(node).emit_element(eval, ir::ElementInputs{operands, coords, node});
}

// Turns an elementwise node over constants into the constant it computes, in place.
bool FoldElementwiseConstant(Graph& graph, Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  if (!def.Has(ir::kElementwise) || !def.emit_element || node.operands.empty()) return false;
  // A collective stays in the graph: every rank issues the same collectives in the same order.
  if (IsRandom(node) || def.Has(ir::kCollective)) return false;
  for (NodeId operand : node.operands) {
    if (!IsConstant(graph.node(operand))) return false;
  }
  ScalarType want = node.type.dtype == ir::DType::kI64 ? ScalarType::kI64 : ScalarType::kF32;
  if (node.type.dtype != ir::DType::kF32 && node.type.dtype != ir::DType::kI64) return false;

  ConstantEvaluator eval;
  kernel::Value result = EvaluateElement(eval, graph, node);
  // A result that depends on the element's coordinates is not a splat.
  if (eval.DependsOnCoordinates(result) || result.type != want) return false;
  double value = eval.AsDouble(result);
  if (!FitsConstantAttr(value, node.type.dtype)) return false;

  node.op = kConstantOp;
  node.operands.clear();
  node.attrs = ir::Attrs{{"dtype", std::string(ir::DTypeName(node.type.dtype))},
                         {"shape", node.type.shape},
                         {"value", value}};
  return true;
}

// op(x, c) == x for every x when the constant c, rounded to f32, is `identity` bit for bit.
struct IdentityOperand {
  const char* op;
  int constant_operand;
  float identity;
};
constexpr IdentityOperand kIdentityOperands[] = {
    {"mul", 1, 1.0f}, {"mul", 0, 1.0f},  {"div", 1, 1.0f},
    {"sub", 1, 0.0f}, {"add", 1, -0.0f}, {"add", 0, -0.0f},
};

bool IsSplatOf(const Node& node, float identity) {
  if (!IsConstant(node) || node.type.dtype != ir::DType::kF32) return false;
  float value = static_cast<float>(node.attrs.GetFloat("value"));
  return value == identity && std::signbit(value) == std::signbit(identity);
}

// x*1, x/1, x-0, ... -> x, unless the constant broadcasts x to another shape.
NodeId RemoveIdentityOperand(const Graph& graph, const Node& node) {
  if (node.operands.size() != 2) return kNoNode;
  for (const IdentityOperand& rule : kIdentityOperands) {
    if (node.op != rule.op) continue;
    const Node& constant = graph.node(node.operands[rule.constant_operand]);
    NodeId x = node.operands[1 - rule.constant_operand];
    if (IsSplatOf(constant, rule.identity) && graph.node(x).type == node.type) return x;
  }
  return kNoNode;
}

// An alias (reshape) that keeps its operand's type reinterprets nothing.
NodeId RemoveNoopAlias(const Graph& graph, const Node& node) {
  if (!ir::OpOf(node).Has(ir::kAlias) || node.operands.size() != 1) return kNoNode;
  NodeId x = node.operands[0];
  return graph.node(x).type == node.type ? x : kNoNode;
}

// An index map (broadcast_to, transpose) that reads every element from its own position.
NodeId RemoveIdentityIndexMap(const Graph& graph, const Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  if (!def.Has(ir::kIndexMap) || !def.index_map || node.operands.size() != 1) return kNoNode;
  NodeId x = node.operands[0];
  const ir::TensorType& operand = graph.node(x).type;
  if (operand != node.type) return kNoNode;
  std::vector<int> map = def.index_map(node, operand);
  for (int64_t d = 0; d < operand.rank(); ++d) {
    // A size-1 dim reads coordinate 0 whichever output dim it is mapped from.
    if (map[d] != d && operand.shape[d] != 1) return kNoNode;
  }
  return x;
}

// reshape(reshape(x, a), b) -> reshape(x, b): an alias result depends only on the bytes of the
// buffer and its own attrs, so the inner alias of the same op can be skipped.
bool CollapseAliasChain(const Graph& graph, Node& node) {
  if (!ir::OpOf(node).Has(ir::kAlias) || node.operands.size() != 1) return false;
  const Node& inner = graph.node(node.operands[0]);
  if (&ir::OpOf(inner) != &ir::OpOf(node) || inner.operands.size() != 1) return false;
  node.operands[0] = inner.operands[0];
  return true;
}

// op(op(x, a), b) -> op(x, compose(a, b)) for ops whose record says how (transpose: the
// permutations compose).
bool ComposeChain(const Graph& graph, Node& node) {
  const ir::OpDef& def = ir::OpOf(node);
  if (!def.compose || node.operands.size() != 1) return false;
  const Node& inner = graph.node(node.operands[0]);
  if (&ir::OpOf(inner) != &def || inner.operands.size() != 1) return false;
  node.attrs = def.compose(inner.attrs, node.attrs);
  node.operands[0] = inner.operands[0];
  return true;
}

// Rewrites that change the node itself; the node keeps its id.
bool RewriteInPlace(Graph& graph, Node& node) {
  bool changed = FoldElementwiseConstant(graph, node);
  changed = CollapseAliasChain(graph, node) || changed;
  changed = ComposeChain(graph, node) || changed;
  return changed;
}

// Rewrites that make the node redundant: the operand that replaces it, or kNoNode.
NodeId FindReplacement(const Graph& graph, const Node& node) {
  for (auto rule : {RemoveIdentityOperand, RemoveNoopAlias, RemoveIdentityIndexMap}) {
    if (NodeId x = rule(graph, node); x != kNoNode) return x;
  }
  return kNoNode;
}

// `w <- w` (left by e.g. w*1) writes nothing; dropping it spares codegen an in-place self-copy.
bool RemoveNoopUpdates(Graph& graph) {
  auto is_noop = [](const ir::Update& update) { return update.target == update.value; };
  return std::erase_if(graph.updates, is_noop) > 0;
}

}  // namespace

absl::StatusOr<bool> FoldConstants(Graph& graph) {
  // replacement[id]: the node standing in for `id` (itself unless a rewrite made it redundant).
  std::vector<NodeId> replacement(graph.size());
  bool changed = false;
  for (NodeId id = 0; id < graph.size(); ++id) {
    replacement[id] = id;
    Node& node = graph.mutable_node(id);
    for (NodeId& operand : node.operands) {
      changed = changed || operand != replacement[operand];
      operand = replacement[operand];
    }
    changed = RewriteInPlace(graph, node) || changed;
    if (NodeId x = FindReplacement(graph, node); x != kNoNode) {
      replacement[id] = x;
      changed = true;
    }
  }
  for (auto& [name, id] : graph.outputs) id = replacement[id];
  for (ir::Update& update : graph.updates) update.value = replacement[update.value];
  return RemoveNoopUpdates(graph) || changed;
}

}  // namespace kiln::passes
