// Optimizer update rules as graph fragments: each appends the in-place updates of one parameter
// (and of its optimizer state) to the training-step graph, following PyTorch's formulas.
#ifndef KILN_PASSES_OPTIMIZERS_H_
#define KILN_PASSES_OPTIMIZERS_H_

#include <vector>

#include "absl/status/status.h"
#include "ir/graph.h"
#include "ir/train_config.h"

namespace kiln::passes {

// The learning rate is a runtime input (so schedules and --lr need no recompile).
inline constexpr char kLearningRateInput[] = "kiln.lr";

// Appends updates for `params` given their gradients `grads` to graph.updates.
absl::Status AppendOptimizerUpdates(ir::Graph& graph, const ir::OptimizerConfig& config,
                                    const std::vector<ir::NodeId>& params,
                                    const std::vector<ir::NodeId>& grads);

}  // namespace kiln::passes

#endif  // KILN_PASSES_OPTIMIZERS_H_
