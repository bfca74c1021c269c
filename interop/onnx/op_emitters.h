// The ONNX ops kiln import understands: one table from op type to the function that writes the
// node as a kiln expression. Everything an op needs to know about its ONNX form lives in its row.
#ifndef KILN_INTEROP_ONNX_OP_EMITTERS_H_
#define KILN_INTEROP_ONNX_OP_EMITTERS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "interop/onnx/node_context.h"

namespace kiln::interop {

// How the output's rank follows from the inputs', when the emitter does not set it.
enum class RankRule { kUnknown, kSameAsInput0, kBroadcast };

// Most ops become a statement; Constant is folded into the importer's constants and Identity
// (and eval-mode Dropout's kin) is a new name for its input.
enum class OpKind { kStatement, kConstant, kAlias };

struct OpEmitter {
  const char* op_type;
  OpKind kind;
  RankRule rank_rule;
  // The right-hand side of `<output> = ...`; nullptr for ops that only fold.
  absl::StatusOr<std::string> (*emit)(NodeContext& node);
  // Computes the output at import time (shape arithmetic: Shape, Gather, Unsqueeze, Concat of
  // constants); nullopt when it cannot, and the op is emitted instead. nullptr: never folds.
  absl::StatusOr<std::optional<runtime::CheckpointTensor>> (*fold)(NodeContext& node) = nullptr;
};

// nullptr for an op kiln import does not convert.
const OpEmitter* FindOpEmitter(const std::string& op_type);
// Every op type of the table, sorted (for --help and the conformance report).
std::vector<std::string> SupportedOnnxOps();

}  // namespace kiln::interop

#endif  // KILN_INTEROP_ONNX_OP_EMITTERS_H_
