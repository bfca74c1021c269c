// Turns a model's forward graph into the two graphs kiln compiles: ONE training step (forward,
// loss, backward, optimizer update with in-place writes of parameters and optimizer state) and
// an evaluation step (forward in eval mode, loss, no gradients; for classification losses the
// count of correct predictions, each sample's predicted class and class probabilities, for
// others the loss's prediction operand, which `predict` of AOT-built programs writes out).
#ifndef KILN_PASSES_TRAINING_STEP_H_
#define KILN_PASSES_TRAINING_STEP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/train_config.h"

namespace kiln::passes {

// Output names the runtime reads.
inline constexpr char kLossOutput[] = "loss";
inline constexpr char kCorrectOutput[] = "correct";      // f32 []: correct predictions.
inline constexpr char kPredictedOutput[] = "predicted";  // i64 [N]: each sample's class.
// f32 [N, C]: each sample's class probabilities (binary losses: [N, 1]); classification only.
inline constexpr char kProbabilitiesOutput[] = "probabilities";
// The loss's prediction operand as it is (regression: f32 [N] or [N, K]); losses without classes.
inline constexpr char kValueOutput[] = "value";

// `model` is the frontend's graph with a scalar output named "loss"; composites not yet expanded.
absl::StatusOr<ir::Graph> BuildTrainingStep(const ir::Graph& model, const ir::TrainConfig& train);
// `capture` names model values (`c1`, `layer1.0.conv1`) to add as outputs "capture:NAME"
// (`kiln features`); empty, the evaluation step is exactly the ordinary one.
absl::StatusOr<ir::Graph> BuildEvalStep(const ir::Graph& model,
                                        const std::vector<std::string>& capture = {});
inline constexpr char kCaptureOutputPrefix[] = "capture:";

// Trainable parameters that are not frozen, in declaration order (the order checkpoints and
// optimizers use): the tensors the training step differentiates the loss with respect to.
std::vector<ir::NodeId> TrainableParameters(const ir::Graph& graph);

// How many classes the model's class-index targets range over: the C of a loss taking scores
// f32[N, C] and the labels input `labels_input` (i64[N]) as its target, as nll_loss and
// cross_entropy do. nullopt when the labels are not used that way (regression, probabilities).
std::optional<int64_t> ClassCount(const ir::Graph& model, const std::string& labels_input);

// Sets attr "frozen" on the parameters `freeze` names (exact names, module prefixes, globs
// ending in '*'); a pattern matching none is an error at its position.
absl::Status MarkFrozen(ir::Graph& graph, const std::vector<ir::FreezePattern>& freeze);

}  // namespace kiln::passes

#endif  // KILN_PASSES_TRAINING_STEP_H_
