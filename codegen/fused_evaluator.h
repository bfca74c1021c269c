// Computes the value of any node of a fused kernel at given coordinates by calling the ops'
// emit_element formulas through a ScalarBuilder. Backend-neutral: a backend supplies the loop
// nest, the coordinates, and how to load a tensor that lives in memory.
#ifndef KILN_CODEGEN_FUSED_EVALUATOR_H_
#define KILN_CODEGEN_FUSED_EVALUATOR_H_

#include <functional>
#include <map>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/kernel_program.h"
#include "ir/scalar_builder.h"

namespace kiln::codegen {

class FusedEvaluator {
 public:
  // Loads element `coords` of a node the kernel reads from memory (one of kernel.inputs).
  using LoadFn =
      std::function<kernel::Value(ir::NodeId node, std::span<const kernel::Value> coords)>;

  FusedEvaluator(const ir::Graph& graph, const ir::Kernel& kernel, kernel::ScalarBuilder& builder,
                 LoadFn load);

  // The value of `node` at `coords` (one i64 value per dim of the node's shape). Nodes inside
  // the kernel are computed; others are loaded. Results are memoized per coordinates.
  kernel::Value Evaluate(ir::NodeId node, const std::vector<kernel::Value>& coords);

  // Makes Evaluate(node, coords) return `value` (a matmul accumulator, a reduction result).
  void Define(ir::NodeId node, const std::vector<kernel::Value>& coords, kernel::Value value);

  // Forgets memoized values: call when the emission point moves to code that is not dominated by
  // the previous one (e.g. a new loop body).
  void Reset() { memo_.clear(); }

  kernel::ScalarBuilder& builder() { return builder_; }

 private:
  kernel::Value EvaluateWindow(const ir::Node& node, const std::vector<kernel::Value>& coords);
  std::vector<kernel::Value> OperandCoords(const ir::Node& node, int operand,
                                           const std::vector<kernel::Value>& coords);

  const ir::Graph& graph_;
  std::set<ir::NodeId> inside_;
  kernel::ScalarBuilder& builder_;
  LoadFn load_;
  kernel::Value zero_;
  std::map<std::pair<ir::NodeId, std::vector<int32_t>>, kernel::Value> memo_;
};

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_FUSED_EVALUATOR_H_
