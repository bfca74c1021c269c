#include "passes/training_step.h"

#include "absl/strings/str_cat.h"
#include "ir/graph_builder.h"
#include "ir/op_registry.h"
#include "passes/autodiff.h"
#include "passes/data_parallel.h"
#include "passes/expand_composites.h"
#include "passes/optimizers.h"
#include "support/source_location.h"
#include "support/status.h"

namespace kiln::passes {
namespace {

absl::StatusOr<ir::NodeId> LossOf(const ir::Graph& model) {
  ir::NodeId loss = model.Output(kLossOutput);
  if (loss == ir::kNoNode) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name, "' does not define `loss`"));
  }
  return loss;
}

}  // namespace

std::vector<ir::NodeId> TrainableParameters(const ir::Graph& graph) {
  std::vector<ir::NodeId> params;
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).Has(ir::kTrainable) && node.attrs.GetInt("frozen") == 0) {
      params.push_back(node.id);
    }
  }
  return params;
}

std::optional<int64_t> ClassCount(const ir::Graph& model, const std::string& labels_input) {
  const ir::NodeId labels = model.FindByName(labels_input);
  if (labels == ir::kNoNode || model.node(labels).type.dtype != ir::DType::kI64) {
    return std::nullopt;
  }
  // Read from types, not op names: every class-index loss takes (scores f32[N, C], target
  // i64[N]), the target indexing dim 1 of the scores (ClassLossType in ir/ops/loss_ops.cc).
  for (const ir::Node& node : model.nodes()) {
    if (node.operands.size() < 2 || node.operands[1] != labels) continue;
    const ir::TensorType& scores = model.node(node.operands[0]).type;
    if (scores.dtype == ir::DType::kF32 && scores.rank() == 2) return scores.shape[1];
  }
  return std::nullopt;
}

absl::Status MarkFrozen(ir::Graph& graph, const std::vector<ir::FreezePattern>& freeze) {
  std::vector<std::string> names;
  for (const ir::Node& node : graph.nodes()) {
    if (ir::OpOf(node).Has(ir::kTrainable)) names.push_back(node.name);
  }
  for (const ir::FreezePattern& pattern : freeze) {
    bool matched = false;
    for (const std::string& name : names) {
      if (!ir::MatchesNamePattern(pattern.pattern, name)) continue;
      graph.mutable_node(graph.FindByName(name)).attrs.Set("frozen", int64_t{1});
      matched = true;
    }
    if (matched) continue;
    return ErrorAt(pattern.loc, absl::StrCat("freeze: no parameter '", pattern.pattern, "'",
                                             DidYouMean(pattern.pattern, names)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ir::Graph> BuildTrainingStep(const ir::Graph& model, const ir::TrainConfig& train) {
  KILN_RETURN_IF_ERROR(LossOf(model).status());
  ir::Graph step = model;
  step.name = absl::StrCat(model.name, "_train");
  KILN_RETURN_IF_ERROR(ExpandComposites(step, /*training=*/true).status());
  KILN_RETURN_IF_ERROR(MarkFrozen(step, train.freeze));
  ir::NodeId loss = step.Output(kLossOutput);
  std::vector<ir::NodeId> params = TrainableParameters(step);
  if (params.empty() && !train.freeze.empty()) {
    return ErrorAt(train.freeze.front().loc, "freeze: every parameter is frozen");
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ir::NodeId> grads, AppendGradients(step, loss, params));
  // Averaged over the ranks before clipping, so a clipped norm is the averaged gradient's norm.
  if (train.data_parallel) {
    KILN_ASSIGN_OR_RETURN(grads, AllReduceGradients(step, grads));
  }
  KILN_ASSIGN_OR_RETURN(grads, ClipGradients(step, train, grads));
  KILN_RETURN_IF_ERROR(AppendOptimizerUpdates(step, train.optimizer, params, grads));
  step.outputs = {{kLossOutput, loss}};
  return step;
}

absl::StatusOr<ir::Graph> BuildEvalStep(const ir::Graph& model,
                                        const std::vector<std::string>& capture) {
  KILN_ASSIGN_OR_RETURN(ir::NodeId loss, LossOf(model));
  ir::Graph eval = model;
  eval.name = absl::StrCat(model.name, "_eval");
  // Accuracy: a classification loss says which class each sample is predicted to be and which
  // its target names (OpDef::predict); a loss without one (regression) gets no accuracy.
  const ir::Node loss_node = eval.node(loss);
  const ir::OpDef& def = ir::OpOf(loss_node);
  if (def.predict) {
    ir::GraphBuilder b(eval);
    b.set_loc(loss_node.loc);
    std::optional<ir::Prediction> prediction = def.predict(b, loss_node);
    if (prediction) {
      ir::NodeId correct = b.ReduceSum(b.Equal(prediction->predicted, prediction->truth), {0});
      KILN_RETURN_IF_ERROR(b.status());
      eval.outputs.emplace_back(kCorrectOutput, correct);
      eval.outputs.emplace_back(kPredictedOutput, prediction->predicted);
      eval.outputs.emplace_back(kProbabilitiesOutput, prediction->probabilities);
    }
  }
  // A loss without classes predicts its input (every loss takes (prediction, target)).
  if (eval.Output(kProbabilitiesOutput) == ir::kNoNode && !loss_node.operands.empty()) {
    eval.outputs.emplace_back(kValueOutput, loss_node.operands[0]);
  }
  // Before composites expand, while the model's names still name the values they were given.
  for (const std::string& name : capture) {
    const ir::NodeId value = eval.FindByName(name);
    if (value == ir::kNoNode) {
      std::vector<std::string> names;
      for (ir::NodeId id = 0; id < eval.size(); ++id) {
        if (!eval.node(id).name.empty()) names.push_back(eval.node(id).name);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("--capture: the model has no value '", name, "'", DidYouMean(name, names)));
    }
    eval.outputs.emplace_back(absl::StrCat(kCaptureOutputPrefix, name), value);
  }
  KILN_RETURN_IF_ERROR(ExpandComposites(eval, /*training=*/false).status());
  return eval;
}

}  // namespace kiln::passes
