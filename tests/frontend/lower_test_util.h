// Helpers shared by the frontend lowering tests.
#ifndef KILN_TESTS_FRONTEND_LOWER_TEST_UTIL_H_
#define KILN_TESTS_FRONTEND_LOWER_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "frontend/frontend.h"
#include "ir/graph.h"

namespace kiln::frontend::testing {

// Parses and lowers `text` at the given dims; the status on failure.
inline absl::StatusOr<ir::Graph> Lower(const std::string& text,
                                       const std::map<std::string, int64_t>& dims = {{"B", 64}}) {
  auto ast = ParseModel(text, "t.kiln");
  if (!ast.ok()) return ast.status();
  return LowerModel(*ast, dims);
}

inline std::string LowerError(const std::string& text,
                              const std::map<std::string, int64_t>& dims = {{"B", 64}}) {
  auto graph = Lower(text, dims);
  EXPECT_FALSE(graph.ok());
  return graph.ok() ? "" : std::string(graph.status().message());
}

// The node called `name`; fails the test if there is none.
inline const ir::Node& NodeNamed(const ir::Graph& graph, const std::string& name) {
  ir::NodeId id = graph.FindByName(name);
  EXPECT_NE(id, ir::kNoNode) << "no node named " << name;
  static const ir::Node kMissing;
  return id == ir::kNoNode ? kMissing : graph.node(id);
}

// "op:name:type" of every parameter, in creation order.
inline std::vector<std::string> Parameters(const ir::Graph& graph) {
  std::vector<std::string> params;
  for (const ir::Node& node : graph.nodes()) {
    if (node.op == "parameter") params.push_back(node.name + ":" + node.type.ToString());
  }
  return params;
}

}  // namespace kiln::frontend::testing

#endif  // KILN_TESTS_FRONTEND_LOWER_TEST_UTIL_H_
