// Human-readable views of a model's forward graph: a layer table with parameter counts (like
// torchsummary / Keras' model.summary()) and a Graphviz picture of the graph.
//
//   kiln compile examples/binary_classifier.kiln --emit=summary
//   kiln compile examples/fashion_cnn.kiln --emit=dot | dot -Tpng > cnn.png
#ifndef KILN_IR_MODEL_SUMMARY_H_
#define KILN_IR_MODEL_SUMMARY_H_

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

// One row per layer (the parameters and state named "<layer>.<suffix>"): name, op, output
// shape, parameter count; then trainable, frozen (attr "frozen") and non-trainable state totals.
std::string DescribeModel(const Graph& model);

// The graph in Graphviz DOT: parameters and state as boxes, inputs as ovals, ops as rounded
// boxes labelled with their name, op and shape; edges from operands to users.
std::string GraphToDot(const Graph& model);

}  // namespace kiln::ir

#endif  // KILN_IR_MODEL_SUMMARY_H_
