// Graphs shared by the IR tests, built with GraphBuilder, and a field-by-field graph comparison.
#ifndef KILN_TESTS_IR_TEST_GRAPHS_H_
#define KILN_TESTS_IR_TEST_GRAPHS_H_

#include "ir/graph.h"

namespace kiln::ir::testing {

// A Fashion-MNIST MLP: input, parameters, two linear composites, relu, log_softmax, nll_loss,
// with source locations in "fashion_mlp.kiln" (whose text it carries), a state counter, an
// output and two updates. Node ids are listed in its golden text in printer_test.cc.
Graph BuildMlp();

// One node of each primitive op the tests print: matmul, reduce_sum, transpose, broadcast_to,
// iota, cast, greater, select, random_uniform, reshape, reduce_max, argmax, constant.
Graph BuildPrimitives();

// Every field of every node, output and update; doubles compared bit for bit; source locations
// compared by path, line and column.
void ExpectSameGraph(const Graph& actual, const Graph& expected);

}  // namespace kiln::ir::testing

#endif  // KILN_TESTS_IR_TEST_GRAPHS_H_
