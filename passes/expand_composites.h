// Replaces composite ops (linear, log_softmax, nll_loss, dropout, ...) by their primitive form,
// so autodiff and code generation only see primitives.
#ifndef KILN_PASSES_EXPAND_COMPOSITES_H_
#define KILN_PASSES_EXPAND_COMPOSITES_H_

#include <functional>

#include "absl/status/statusor.h"
#include "ir/graph.h"
#include "ir/op_def.h"

namespace kiln::passes {

// `training` selects the training form of mode-dependent ops (dropout active).
absl::StatusOr<bool> ExpandComposites(ir::Graph& graph, bool training);
// Only the composites `expand` selects (kiln export keeps those it writes as one ONNX node).
absl::StatusOr<bool> ExpandComposites(ir::Graph& graph, bool training,
                                      const std::function<bool(const ir::OpDef&)>& expand);

}  // namespace kiln::passes

#endif  // KILN_PASSES_EXPAND_COMPOSITES_H_
