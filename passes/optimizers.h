// Optimizer updates in the training step: the in-place updates of every parameter (and of its
// optimizer state), built by the optimizer's record (ir/optimizer_defs.h) with PyTorch 1.13's
// single-tensor (foreach=False) formulas. State tensors are named "<param>.<torch state key>"
// (fc1.weight.exp_avg), the step counter "<optimizer>.step" (steps taken so far).
#ifndef KILN_PASSES_OPTIMIZERS_H_
#define KILN_PASSES_OPTIMIZERS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/train_config.h"

namespace kiln::passes {

// The learning rate is a runtime input (so schedules and --lr need no recompile).
inline constexpr char kLearningRateInput[] = "kiln.lr";

// Appends updates for `params` given their gradients `grads` to graph.updates.
absl::Status AppendOptimizerUpdates(ir::Graph& graph, const ir::OptimizerConfig& config,
                                    const std::vector<ir::NodeId>& params,
                                    const std::vector<ir::NodeId>& grads);

// Clips `grads` as train.clip_grad_value and train.clip_grad_norm ask (see ir::TrainConfig) and
// returns the clipped gradients (the input ids when neither is set).
absl::StatusOr<std::vector<ir::NodeId>> ClipGradients(ir::Graph& graph,
                                                      const ir::TrainConfig& train,
                                                      const std::vector<ir::NodeId>& grads);

}  // namespace kiln::passes

#endif  // KILN_PASSES_OPTIMIZERS_H_
