// The IR text format, reading side (the format is described in ir/printer.h). Tests write graphs
// as text, run a pass, and compare the printed result, as XLA's HLO tests do.
//
//   KILN_ASSIGN_OR_RETURN(Graph graph, ParseGraph(R"(
//     graph g {
//       %x = input() {dtype="f32", shape=[2,3]} : f32[2,3] name="x"
//       %r = relu(%x) : f32[2,3]
//       outputs { y = %r }
//     })"));
//
// Value labels may be any `%[A-Za-z0-9_.]+`; nodes are numbered in the order they appear, so
// printing a parsed graph renumbers them. `//` starts a comment that runs to the end of the line.
//
// Every node's type is inferred again through the op registry, and a printed type that disagrees
// is an error. Graph-level rules (update targets, unique leaf names) are VerifyGraph's job, so
// that tests can write graphs the verifier must reject.
#ifndef KILN_IR_PARSER_H_
#define KILN_IR_PARSER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ir/graph.h"

namespace kiln::ir {

// Errors read "<source_name>:line:col: error: ..." followed by the offending line and a caret.
absl::StatusOr<Graph> ParseGraph(absl::string_view text, absl::string_view source_name = "<ir>");

}  // namespace kiln::ir

#endif  // KILN_IR_PARSER_H_
