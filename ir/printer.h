// The IR text format, printing side: one node per line, stable and exact enough that
// ParseGraph (ir/parser.h) reads it back into an equal graph and printing that graph again gives
// the same text. Tests of passes are written as IR text in, IR text out.
//
//   graph fashion_mlp {
//     %0 = input() {dtype="f32", shape=[64,784]} : f32[64,784] name="x"
//     %5 = matmul(%0, %2) {transpose_a=0, transpose_b=0} : f32[64,256] name="fc1" loc="m.kiln:5:9"
//     outputs { loss = %17 }
//     updates { %2 <- %40 }
//   }
//
// Attributes print in key order. Integers print as integers; doubles always carry a '.', an
// exponent, or are inf/nan, and use the shortest form that reads back to the same bits. Names and
// strings are C-escaped inside double quotes.
#ifndef KILN_IR_PRINTER_H_
#define KILN_IR_PRINTER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "ir/graph.h"

namespace kiln::ir {

// The whole graph, ending with a newline.
std::string PrintGraph(const Graph& graph);

// One node's line without indentation or newline, e.g. `%3 = relu(%2) : f32[64,256]`. Safe on
// a corrupt graph (it never follows operands); an out-of-range id prints as `<no node %7>`.
std::string PrintNode(const Graph& graph, NodeId id);

// Shortest text that reads back (std::from_chars) to the same double, never integer-looking.
std::string FormatDouble(double value);

// `name` when it is an identifier ([A-Za-z_][A-Za-z0-9_.]*), else a quoted C-escaped string.
std::string FormatName(absl::string_view name);

}  // namespace kiln::ir

#endif  // KILN_IR_PRINTER_H_
