// Appends an optimizer's updates (its record in ir/optimizer_defs.cc builds them) and gradient
// clipping to the training step.
#include "passes/optimizers.h"

#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/optimizer_defs.h"
#include "support/source_location.h"

namespace kiln::passes {
namespace {

using ir::GraphBuilder;
using ir::NodeId;

// -max(-x, -y).
NodeId Minimum(GraphBuilder& b, NodeId x, NodeId y) {
  return b.Neg(b.Maximum(b.Neg(x), b.Neg(y)));
}

std::vector<int64_t> AllDims(GraphBuilder& b, NodeId x) {
  std::vector<int64_t> dims(b.graph().node(x).type.rank());
  for (size_t d = 0; d < dims.size(); ++d) dims[d] = static_cast<int64_t>(d);
  return dims;
}

}  // namespace

absl::Status AppendOptimizerUpdates(ir::Graph& graph, const ir::OptimizerConfig& config,
                                    const std::vector<ir::NodeId>& params,
                                    const std::vector<ir::NodeId>& grads) {
  const ir::OptimizerDef* def = ir::FindOptimizer(config.kind);
  if (def == nullptr) {
    return ErrorAt(config.loc, absl::StrCat("unknown optimizer '", config.kind, "'",
                                            DidYouMean(config.kind, ir::OptimizerNames())));
  }
  GraphBuilder b(graph);
  b.set_loc(config.loc);
  NodeId lr = b.Input(kLearningRateInput, ir::TensorType{ir::DType::kF32, {}});
  NodeId step = b.State(absl::StrCat(config.kind, ".step"), ir::TensorType{ir::DType::kF32, {}});
  NodeId next_step = b.Add(step, b.Scalar(1.0));
  ir::UpdateContext context{b, *def, config, lr, step, next_step};
  context.Assign(step, next_step);
  if (def->prepare != nullptr) def->prepare(context);
  for (size_t i = 0; i < params.size(); ++i) def->update(context, params[i], grads[i]);
  return b.status();
}

absl::StatusOr<std::vector<ir::NodeId>> ClipGradients(ir::Graph& graph,
                                                      const ir::TrainConfig& train,
                                                      const std::vector<ir::NodeId>& grads) {
  GraphBuilder b(graph);
  b.set_loc(train.clip_loc);
  std::vector<NodeId> clipped = grads;
  // clip_grad_value_: clamp(g, -value, value).
  if (double value = train.clip_grad_value; value > 0.0) {
    for (NodeId& g : clipped) {
      g = Minimum(b, b.Maximum(g, b.Scalar(-value)), b.Scalar(value));
    }
  }
  // clip_grad_norm_: g *= min(max_norm / (||all gradients||_2 + 1e-6), 1).
  if (double max_norm = train.clip_grad_norm; max_norm > 0.0 && !clipped.empty()) {
    NodeId sum_of_squares = ir::kNoNode;
    for (NodeId g : clipped) {
      NodeId square = b.ReduceSum(b.Mul(g, g), AllDims(b, g));
      sum_of_squares = sum_of_squares == ir::kNoNode ? square : b.Add(sum_of_squares, square);
    }
    NodeId total_norm = b.Sqrt(sum_of_squares);
    NodeId coefficient = b.Div(b.Scalar(max_norm), b.Add(total_norm, b.Scalar(1e-6)));
    coefficient = Minimum(b, coefficient, b.Scalar(1.0));
    for (NodeId& g : clipped) g = b.Mul(g, coefficient);
  }
  if (!b.status().ok()) return b.status();
  return clipped;
}

}  // namespace kiln::passes
