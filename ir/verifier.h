// VerifyGraph checks the invariants every pass may rely on and must preserve. The pass pipeline
// runs it between passes in tests and debug builds; LoadModel runs it on every loaded graph.
//
//   KILN_RETURN_IF_ERROR(VerifyGraph(graph));
//
// Rules: every op is registered; each node has its op's operand count; operands precede their
// users; each stored type equals what the op's shape rule infers now; outputs and updates name
// existing nodes (outputs by unique, non-empty names); update targets are persistent leaves,
// updated at most once, with values of the target's type; bound leaves (inputs, parameters,
// state: leaves the runtime binds by name) have unique non-empty names.
#ifndef KILN_IR_VERIFIER_H_
#define KILN_IR_VERIFIER_H_

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln::ir {

// The first broken rule, as an Internal error naming the node (its printed line) and its model
// source location.
absl::Status VerifyGraph(const Graph& graph);

}  // namespace kiln::ir

#endif  // KILN_IR_VERIFIER_H_
