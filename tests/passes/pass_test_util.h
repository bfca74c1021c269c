// Helpers shared by the pass tests: graphs are written as IR text and results compared as
// printed IR, both sides normalized by the parser and printer.
#ifndef KILN_TESTS_PASSES_PASS_TEST_UTIL_H_
#define KILN_TESTS_PASSES_PASS_TEST_UTIL_H_

#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::passes::testing {

inline ir::Graph Parse(absl::string_view text) {
  absl::StatusOr<ir::Graph> graph = ir::ParseGraph(text);
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return ir::Graph{};
  absl::Status valid = ir::VerifyGraph(*graph);
  EXPECT_TRUE(valid.ok()) << valid;
  return *std::move(graph);
}

// The text as the printer writes it: node numbering and attribute layout made canonical.
inline std::string Canonical(absl::string_view text) { return ir::PrintGraph(Parse(text)); }

// Runs `pass`, checks that it reports `expect_changed` and leaves a valid graph, and returns
// the printed result.
template <typename Pass>
std::string RunPass(Pass pass, ir::Graph& graph, bool expect_changed) {
  absl::StatusOr<bool> changed = pass(graph);
  EXPECT_TRUE(changed.ok()) << changed.status();
  if (changed.ok()) {
    EXPECT_EQ(*changed, expect_changed);
  }
  absl::Status valid = ir::VerifyGraph(graph);
  EXPECT_TRUE(valid.ok()) << valid << "\n" << ir::PrintGraph(graph);
  return ir::PrintGraph(graph);
}

}  // namespace kiln::passes::testing

#endif  // KILN_TESTS_PASSES_PASS_TEST_UTIL_H_
